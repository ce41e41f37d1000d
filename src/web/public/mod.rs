//! The pages and endpoints a subscriber uses: sign-up, confirmation, unsubscribe,
//! preferences. Translates HTTP into calls on [`crate::subscribers`] and their outcomes
//! into pages (or JSON for `POST /subscribe` with a JSON body).

mod address_change;
mod body;
mod confirm;
mod preferences;
mod respond;
mod signup;
mod too_large;
mod unsubscribe;

use axum::{
    Extension, Router,
    routing::{get, post},
};

use crate::app::App;
use crate::web::rate_limit::RateLimiter;

use self::{address_change::*, confirm::*, preferences::*, signup::*, unsubscribe::*};

pub(crate) use respond::weekday_name;
pub use too_large::shape_too_large;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(signup_page))
        .route("/embed", get(embed_page))
        .route("/subscribe", post(subscribe))
        .route("/confirm", get(confirm_page).post(confirm))
        .route("/confirm/resend", post(resend))
        .route("/unsubscribe", get(unsubscribe_page).post(unsubscribe))
        .route("/unsubscribe/instead", post(stay_instead))
        .route("/preferences/address/change", post(request_address_change))
        .route(
            "/preferences/address",
            get(address_change_page).post(confirm_address_change),
        )
        .route("/preferences", get(preferences).post(save_preferences))
        .route("/preferences/delete", post(delete_everything))
        .route("/resubscribe", post(resubscribe))
        .layer(Extension(RateLimiter::new()))
}
