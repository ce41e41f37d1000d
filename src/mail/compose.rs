//! Turning an email we mean to send into a standards-conforming MIME message.

use lettre::message::{
    Body, Mailbox, Message, MessageBuilder, MultiPart,
    header::{ContentTransferEncoding, HeaderName, HeaderValue},
};
use lettre::{Address, address::Envelope};

use crate::{config::Config, domain::EmailAddress};

/// Who mail comes from, read once from the configuration.
#[derive(Clone, Debug)]
pub struct MailIdentity {
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    pub list_id: String,
    pub list_name: String,
    /// Right-hand side of our Message-IDs: the From domain.
    pub id_domain: String,
    /// `Feedback-ID` value (Gmail's feedback loop), when configured.
    pub feedback_id: Option<String>,
    /// List-Id, Feedback-ID and List-Unsubscribe-Post, encoded once.
    headers: ConstantHeaders,
}

impl MailIdentity {
    pub fn from_config(config: &Config) -> anyhow::Result<MailIdentity> {
        let from: Mailbox = config.newsletter.from.parse().map_err(|e| {
            anyhow::anyhow!(
                "newsletter.from {:?} is not a valid mailbox: {e}",
                config.newsletter.from
            )
        })?;
        let reply_to = match config.newsletter.reply_to.trim() {
            "" => None,
            r => Some(r.parse().map_err(|e| {
                anyhow::anyhow!("newsletter.reply_to {r:?} is not a valid mailbox: {e}")
            })?),
        };
        let id_domain = from.email.domain().to_string();
        let feedback_id = sanitize_phrase(config.mail.feedback_id.trim());
        let feedback_id = (!feedback_id.is_empty()).then_some(feedback_id);
        Ok(MailIdentity {
            headers: ConstantHeaders::new(
                &config.newsletter.name,
                &config.newsletter.list_id,
                feedback_id.as_deref(),
            ),
            feedback_id,
            from,
            reply_to,
            list_id: config.newsletter.list_id.clone(),
            list_name: config.newsletter.name.clone(),
            id_domain,
        })
    }
}

/// The RFC 8058 pair: an HTTPS one-click URL and, optionally, a mailto alternative.
#[derive(Clone, Debug)]
pub struct Unsubscribe {
    pub url: String,
    pub mailto: Option<String>,
}

/// What differs from one message to the next in the headers: who it is for, its
/// subject, and on list mail its unsubscribe pair. The rest comes from [`MailIdentity`],
/// whose constant headers are built once.
#[derive(Clone, Debug)]
pub struct Head {
    pub to: EmailAddress,
    pub to_name: Option<String>,
    pub subject: String,
    /// Present on list mail (digests, welcome); absent on mail the person asked for
    /// right now, such as a confirmation link.
    pub unsubscribe: Option<Unsubscribe>,
}

/// One message to one person.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub head: Head,
    pub html: String,
    pub text: String,
}

/// Where the bounces of one message go (VERP): the envelope sender, and the same token
/// in a header so that a complaint quoting only the original message can be matched too.
#[derive(Clone, Debug)]
pub struct ReturnPath {
    pub address: Address,
    pub token: String,
}

/// The header that repeats the VERP token inside the message.
pub const BOUNCE_REF_HEADER: &str = "X-Breakfast-Ref";

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("cannot build the message: {0}")]
    Build(String),
}

impl OutgoingEmail {
    /// A multipart/alternative message (text first, so the HTML is preferred) with the
    /// list headers mailbox providers expect from bulk senders.
    pub fn to_message(&self, identity: &MailIdentity) -> Result<Message, ComposeError> {
        self.to_message_returning(identity, None)
    }

    /// As [`to_message`](Self::to_message), with the envelope sender set to
    /// `return_path` when given (otherwise lettre uses the From address).
    pub fn to_message_returning(
        &self,
        identity: &MailIdentity,
        return_path: Option<&ReturnPath>,
    ) -> Result<Message, ComposeError> {
        self.head
            .builder(identity, return_path)?
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| ComposeError::Build(e.to_string()))
    }
}

/// One message to one person whose parts are already quoted-printable: a digest, whose
/// literal pieces are encoded once per digest ([`super::qp`]) and only the personal
/// values per recipient. The headers are those of [`OutgoingEmail`].
#[derive(Clone, Debug)]
pub struct EncodedEmail {
    pub head: Head,
    /// The HTML part, quoted-printable (CRLF line ends, lines of at most 76 bytes).
    pub html_qp: String,
    /// The text part, quoted-printable.
    pub text_qp: String,
}

impl EncodedEmail {
    /// The message, consuming the parts (no copy of the body is made here).
    pub fn into_message(
        self,
        identity: &MailIdentity,
        return_path: Option<&ReturnPath>,
    ) -> Result<Message, ComposeError> {
        let builder = self.head.builder(identity, return_path)?;
        let qp = |s: String| {
            Body::dangerous_pre_encoded(s.into_bytes(), ContentTransferEncoding::QuotedPrintable)
        };
        builder
            .multipart(MultiPart::alternative_plain_html(
                qp(self.text_qp),
                qp(self.html_qp),
            ))
            .map_err(|e| ComposeError::Build(e.to_string()))
    }
}

impl Head {
    fn builder(
        &self,
        identity: &MailIdentity,
        return_path: Option<&ReturnPath>,
    ) -> Result<MessageBuilder, ComposeError> {
        let to_address: Address = self
            .to
            .as_str()
            .parse()
            .map_err(|e| ComposeError::Build(format!("recipient: {e}")))?;
        let to = Mailbox::new(
            self.to_name.clone().filter(|n| !n.trim().is_empty()),
            to_address.clone(),
        );
        let message_id = format!("<{}@{}>", uuid::Uuid::now_v7().simple(), identity.id_domain);
        let mut builder = Message::builder()
            .from(identity.from.clone())
            .to(to)
            .subject(&self.subject)
            .message_id(Some(message_id))
            .date_now()
            .raw_header(identity.headers.list_id.clone());
        if let Some(rp) = return_path {
            let envelope = Envelope::new(Some(rp.address.clone()), vec![to_address])
                .map_err(|e| ComposeError::Build(format!("envelope: {e}")))?;
            builder = builder.envelope(envelope).raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(BOUNCE_REF_HEADER),
                rp.token.clone(),
            ));
        }
        if let Some(reply_to) = &identity.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        if let Some(feedback_id) = &identity.headers.feedback_id {
            builder = builder.raw_header(feedback_id.clone());
        }
        if let Some(unsub) = &self.unsubscribe {
            let mut value = String::with_capacity(unsub.url.len() + 64);
            value.push('<');
            value.push_str(&unsub.url);
            value.push('>');
            if let Some(mailto) = &unsub.mailto {
                value.push_str(", <");
                value.push_str(mailto);
                value.push('>');
            }
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    value,
                ))
                .raw_header(identity.headers.one_click.clone());
        }
        Ok(builder)
    }
}

/// Headers that are the same in every message, encoded once when the identity is read.
#[derive(Clone, Debug)]
pub struct ConstantHeaders {
    list_id: HeaderValue,
    feedback_id: Option<HeaderValue>,
    one_click: HeaderValue,
}

impl ConstantHeaders {
    fn new(list_name: &str, list_id: &str, feedback_id: Option<&str>) -> ConstantHeaders {
        ConstantHeaders {
            list_id: HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Id"),
                format!("{} <{}>", sanitize_phrase(list_name), list_id),
            ),
            feedback_id: feedback_id.map(|f| {
                HeaderValue::new(HeaderName::new_from_ascii_str("Feedback-ID"), f.to_owned())
            }),
            one_click: HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".into(),
            ),
        }
    }
}

/// A display phrase must not smuggle header syntax.
fn sanitize_phrase(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '<' | '>' | '\r' | '\n' | '"'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers (name, value) of a formatted message, in order, without the ones that are
    /// new in every message (Date, Message-ID, the MIME boundary).
    fn stable_headers(raw: &[u8]) -> Vec<(String, String)> {
        let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
        msg.headers()
            .iter()
            .filter(|h| !matches!(h.name(), "Date" | "Message-ID" | "Content-Type"))
            .map(|h| {
                let value = &raw[h.offset_start() as usize..h.offset_end() as usize];
                (
                    h.name().to_string(),
                    String::from_utf8_lossy(value).trim().to_string(),
                )
            })
            .collect()
    }

    fn parts(raw: &[u8]) -> (String, String) {
        let msg = mail_parser::MessageParser::default().parse(raw).unwrap();
        (
            msg.body_text(0).unwrap().into_owned(),
            msg.body_html(0).unwrap().into_owned(),
        )
    }

    /// The digest's path (constant headers built once, parts quoted-printable in pieces)
    /// gives the same message as building everything per message with lettre did.
    #[test]
    fn encoded_email_matches_the_per_message_build() {
        let mut config = crate::config::Config::from_toml_str("").unwrap();
        config.newsletter.reply_to = "Desk <desk@example.org>".into();
        config.mail.feedback_id = "digest:breakfast".into();
        config.newsletter.unsubscribe_mailto = "leave@example.org".into();
        let identity = MailIdentity::from_config(&config).unwrap();
        let text = "Hello, Ana.\n\nLes locataires ont gagné — ".repeat(20) + "\nend \n";
        let html = format!(
            "<p>{}</p>",
            "Grève générale <b>demain</b> &amp; après. ".repeat(30)
        );
        let unsubscribe = Unsubscribe {
            url: "https://news.example.org/unsubscribe?token=abc.def".into(),
            mailto: Some("mailto:leave@example.org?subject=unsubscribe".into()),
        };
        let return_path = ReturnPath {
            address: "bounces+t0k3n@example.org".parse().unwrap(),
            token: "t0k3n".into(),
        };
        let to = EmailAddress::parse("ana@example.org").unwrap();
        let head = Head {
            to,
            to_name: Some("Ana Lima".into()),
            subject: "Breakfast in Red — 1 December".into(),
            unsubscribe: Some(unsubscribe),
        };
        let old = OutgoingEmail {
            head: head.clone(),
            html: html.clone(),
            text: text.clone(),
        }
        .to_message_returning(&identity, Some(&return_path))
        .unwrap();
        let encode = |s: &str| {
            let mut out = String::new();
            super::super::qp::encode_piece(&mut out, s);
            out
        };
        let new = EncodedEmail {
            head,
            html_qp: encode(&html),
            text_qp: encode(&text),
        }
        .into_message(&identity, Some(&return_path))
        .unwrap();
        assert_eq!(old.envelope(), new.envelope());
        let (old, new) = (old.formatted(), new.formatted());
        assert_eq!(stable_headers(&old), stable_headers(&new));
        assert_eq!(parts(&old), parts(&new));
        let new = String::from_utf8(new).unwrap();
        assert!(new.split("\r\n").all(|l| l.len() <= 78), "{new}");
    }
}
