//! The request field parser: any bytes as query string and body must give
//! fields or a refusal, never a panic; accepted values are clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x2gobroker::api::http::form::Form;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (query, body) = (&data[..split], &data[split.min(data.len())..]);
    if let Ok(form) = Form::parse(query, body) {
        for field in ["task", "user", "login", "sid", "authid"] {
            let v = form.get(field);
            assert_eq!(v, v.trim(), "{field} is stripped");
            assert!(!v
                .chars()
                .any(|c| matches!(c, '\x00'..='\x08' | '\x0e'..='\x1f')));
        }
    }
});
