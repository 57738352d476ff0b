//! The configuration parser: arbitrary bytes as a configuration of each of the three kinds.
//! Nothing may panic; a refusal must carry the configuration error code and a message.
#![no_main]

use std::path::Path;

use kubewasm::{ErrorCode, Kind, config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for kind in [Kind::Authentication, Kind::Authorization, Kind::Admission] {
        match config::parse(kind, data, Path::new("/nonexistent/kubewasm-fuzz")) {
            Ok(parsed) => {
                // What `kubewasm_modules` returns must serialise.
                serde_json::to_vec(&parsed.modules).expect("a parsed configuration serialises");
            }
            Err(e) => {
                assert_eq!(e.code, ErrorCode::Config, "{}", e.message);
                assert!(!e.message.is_empty());
            }
        }
    }
});
