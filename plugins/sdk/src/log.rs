//! Plugin logging: lines go to the host's log, tagged with the plugin's name and version.

use crate::bindings::mdhost::provider::log::{Level, log};

pub fn trace(msg: &str) {
    log(Level::Trace, msg);
}
pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}
pub fn info(msg: &str) {
    log(Level::Info, msg);
}
pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}
pub fn error(msg: &str) {
    log(Level::Error, msg);
}
