//! Ingest: data from the institution's systems, received in the standards they speak and
//! kept no further than the registered purposes need (GDPR Art. 5(1)(c)).

pub mod xapi;
