//! Integration tests of the pure replay domain: the tutorial's examples, tables and properties.

mod pages;
mod properties;
mod tables;
mod tutorial;
