//! What every transactional email to a subscriber shares: the frame (the publication's
//! name, postal address and look, and the editable intro) and the job that carries one,
//! rendered, to its handler ([`super::transactional`]). A leaf of the subscribers room, so
//! every builder (confirmation, welcome, change of address) can use it.

use templates::email::transactional::{
    TransactionalEmail, render_transactional_html, render_transactional_text,
};

use crate::{
    app::App,
    brand::{Look, copy::Rendered},
    queue::jobs::SendTransactional,
    store::subscribers::Subscriber,
};

/// What every transactional email carries whatever it says: the publication's name, its
/// postal address and look, and the editable intro for the emails that have one. A
/// builder fills in the rest (`TransactionalEmail { heading, …, ..framed(…) }`).
pub fn framed(app: &App, look: &Look, intro: Option<&Rendered>) -> TransactionalEmail {
    let newsletter = &app.config.newsletter;
    TransactionalEmail {
        publication: newsletter.name.clone(),
        intro_html: intro.map(|i| i.html.clone()),
        intro_text: intro.map(|i| i.text.clone()),
        postal_address: newsletter.postal_address.clone(),
        brand: look.brand.clone(),
        ..Default::default()
    }
}

/// The job that sends `m` to subscriber `s` at their address, recording `event` on their
/// history once sent. Not list mail: list mail sets `list_subscriber_id` and its
/// `unsubscribe_url` on top.
pub fn job(
    s: &Subscriber,
    subject: String,
    m: &TransactionalEmail,
    event: &str,
) -> SendTransactional {
    SendTransactional {
        to: s.email.clone(),
        to_name: s.name.clone(),
        subject,
        html: render_transactional_html(m),
        text: render_transactional_text(m),
        list_subscriber_id: None,
        unsubscribe_url: None,
        event: Some((s.id, event.into())),
    }
}
