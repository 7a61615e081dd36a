//! The comparative report: every scheme on one trace, side by side.
