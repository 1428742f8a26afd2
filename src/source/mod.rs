//! Where fleet repositories come from: local folders and Git remotes.
