//! Turning an email we mean to send into a standards-conforming MIME message.

use lettre::message::{
    Mailbox, Message, MultiPart,
    header::{HeaderName, HeaderValue},
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
        Ok(MailIdentity {
            feedback_id: (!feedback_id.is_empty()).then_some(feedback_id),
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

/// One message to one person.
#[derive(Clone, Debug)]
pub struct OutgoingEmail {
    pub to: EmailAddress,
    pub to_name: Option<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Present on list mail (digests, welcome); absent on mail the person asked for
    /// right now, such as a confirmation link.
    pub unsubscribe: Option<Unsubscribe>,
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
            .subject(self.subject.clone())
            .message_id(Some(message_id))
            .date_now()
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Id"),
                format!(
                    "{} <{}>",
                    sanitize_phrase(&identity.list_name),
                    identity.list_id
                ),
            ));
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
        if let Some(feedback_id) = &identity.feedback_id {
            builder = builder.raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Feedback-ID"),
                feedback_id.clone(),
            ));
        }
        if let Some(unsub) = &self.unsubscribe {
            let mut value = format!("<{}>", unsub.url);
            if let Some(mailto) = &unsub.mailto {
                value.push_str(&format!(", <{mailto}>"));
            }
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    value,
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| ComposeError::Build(e.to_string()))
    }
}

/// A display phrase must not smuggle header syntax.
fn sanitize_phrase(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '<' | '>' | '\r' | '\n' | '"'))
        .collect()
}
