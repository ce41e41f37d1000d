//! A signed-in admin in a test: the browser (cookies, CSRF), its pages, and accounts.

use std::collections::HashMap;

use breakfast::{App, accounts::hash_password, store::users::AdminRole};
use reqwest::{StatusCode, header};

use crate::kit::TestApp;

pub const PASSWORD: &str = "correct horse battery";

/// A browser in miniature: remembers cookies and finds CSRF tokens in pages.
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub cookies: HashMap<String, String>,
    pub last_set_cookies: Vec<String>,
}

/// The file of a multipart form: its field, file name, claimed type and bytes.
pub struct FilePart<'a> {
    pub field: &'a str,
    pub name: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The first CSRF token in the page's forms.
    pub fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl Browser {
    pub fn new(t: &TestApp) -> Browser {
        Browser {
            base: t.base.clone(),
            http: t.http.clone(),
            cookies: HashMap::new(),
            last_set_cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, res: reqwest::Response) -> Page {
        self.last_set_cookies.clear();
        for v in res.headers().get_all(header::SET_COOKIE) {
            let raw = v.to_str().unwrap().to_string();
            let pair = raw.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || raw.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
            self.last_set_cookies.push(raw);
        }
        Page {
            status: res.status(),
            location: res
                .headers()
                .get(header::LOCATION)
                .map(|l| l.to_str().unwrap().to_string()),
            body: res.text().await.unwrap_or_default(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    /// Posts a form with `csrf` and the `fields`, written `name=value&name=value` (raw
    /// values: no `&` or `=` in them), as a browser submits a page's form.
    pub async fn post_fields(&mut self, path: &str, csrf: &str, fields: &str) -> Page {
        let mut form = vec![("csrf", csrf)];
        form.extend(
            fields
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| kv.split_once('=').expect("name=value")),
        );
        self.post(path, &form).await
    }

    /// Posts a multipart form as a browser does: the text fields in order, then the file.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: FilePart<'_>,
    ) -> Page {
        let boundary = "----breakfast-test-boundary-7d3a";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                file.field, file.name, file.content_type
            )
            .as_bytes(),
        );
        body.extend_from_slice(file.bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(header::COOKIE, self.cookie_header())
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/admin/login").await;
        let csrf = form.csrf();
        self.post(
            "/admin/login",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
                ("next", "/admin"),
            ],
        )
        .await
    }
}

pub async fn add_user(app: &App, email: &str, role: AdminRole) {
    let hash = hash_password(PASSWORD).unwrap();
    app.store
        .insert_admin_user(email, &hash, role, app.now_ms())
        .await
        .unwrap();
}
