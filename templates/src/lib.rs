//! Breakfast's views, written in maud.
//!
//! Every view takes a plain struct of strings, numbers and options, so the
//! service can build them from whatever it stores and this crate never has to
//! follow a schema change. Markup helpers are re-exported so that modules
//! added later (`public`, `admin`) need nothing beyond this crate.

pub mod admin;
pub mod archive;
pub mod bounces;
pub mod brand;
pub mod doctor;
pub mod email;
pub mod leaving;
pub mod page;
pub mod public;
/// The queue page lives under `admin`, as its handler does under `web::admin`.
pub use admin::queue;

pub use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Escapes `text` onto `out` exactly as every template does (maud's escaper: `&`, `<`,
/// `>`, `"`), for the HTML made outside a template: a cleaned article's paragraphs, the
/// personal values put into an issue rendered once for everyone.
pub fn push_escaped(out: &mut String, text: &str) {
    // Writing to a String cannot fail.
    let _ = std::fmt::Write::write_str(&mut maud::Escaper::new(out), text);
}

/// Writes sample renderings to the temp directory for eyeballing in a
/// browser (`cargo test -p templates -- --ignored write_samples`).
#[cfg(test)]
mod samples {
    use std::fs;

    #[test]
    #[ignore = "writes files for manual review"]
    fn write_samples() {
        let dir = std::env::temp_dir();
        let colours = [
            ("#b3001b", "#f3d9c9"),
            ("#2c3e50", "#d9e2ea"),
            ("#6b4f2a", "#efe2cf"),
        ];
        for (i, (fg, bg)) in colours.iter().enumerate() {
            let svg = format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="1072" height="603" viewBox="0 0 16 9"><rect width="16" height="9" fill="{bg}"/><circle cx="11" cy="4" r="2.6" fill="{fg}"/><rect x="2" y="6" width="7" height="1" fill="{fg}"/></svg>"#
            );
            fs::write(dir.join(format!("bf-img-{i}.svg")), svg).unwrap();
        }
        let digest = crate::email::digest::tests::sample();
        let tx = crate::email::transactional::tests::sample();
        let emails = [
            (
                "digest-sample.html",
                crate::email::digest::render_digest_html(&digest),
            ),
            (
                "digest-sample.txt",
                crate::email::digest::render_digest_text(&digest),
            ),
            (
                "transactional-sample.html",
                crate::email::transactional::render_transactional_html(&tx),
            ),
            (
                "transactional-sample.txt",
                crate::email::transactional::render_transactional_text(&tx),
            ),
        ];
        for (name, body) in emails {
            fs::write(dir.join(name), body).unwrap();
        }
        let meta = crate::page::tests::meta();
        let form = crate::page::tests::sample_form;
        fs::write(
            dir.join("page-sample.html"),
            crate::page::page(&meta, form()).into_string(),
        )
        .unwrap();
        fs::write(
            dir.join("embed-sample.html"),
            crate::page::embed_page(&meta, form()).into_string(),
        )
        .unwrap();
        let err = crate::page::error_page(
            &meta,
            404,
            "We could not find that page",
            "The digest you are looking for may have moved. Try the archive instead.",
            Some(("Go to the archive", "/archive")),
        );
        fs::write(dir.join("error-sample.html"), err.into_string()).unwrap();
    }
}
