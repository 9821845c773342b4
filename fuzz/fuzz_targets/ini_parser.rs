//! The INI reader and both configuration loaders: any text gives a
//! configuration or an error naming a line, never a panic; loaded profiles
//! render for a user and their listing templates lay out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use x2gobroker::config::{ini, BrokerConf};
use x2gobroker::profiles::render::{render, RenderContext};
use x2gobroker::profiles::ProfileSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    match ini::parse("fuzz.conf", text) {
        Ok(_) => {}
        Err(e) => assert!(
            e.line.is_some_and(|l| (1..=lines).contains(&l)),
            "error line {:?} of {lines}",
            e.line
        ),
    }
    let _ = BrokerConf::parse("fuzz.conf", text);
    if let Ok(set) = ProfileSet::parse("fuzz.conf", text) {
        for p in &set.profiles {
            let entries = render(
                p,
                &RenderContext {
                    user: "fuzzer",
                    default_autologin: true,
                },
            );
            assert!(entries
                .iter()
                .all(|(k, _)| !k.starts_with("acl-") && !k.starts_with("broker-")));
            for h in p.host_names() {
                let _ = (p.address_of(&h), p.port_of(&h));
            }
        }
    }
});
