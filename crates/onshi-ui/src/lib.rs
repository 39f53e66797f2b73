//! The one look of onshi's screens: the base layout (`templates/ui/base.html`), the stylesheet
//! (`templates/ui/style.css`, the reception desk's: tablet-sized, big buttons, the next action
//! highlighted) and shared template pieces (`templates/ui/macros.html`). Every page of every
//! crate is an [askama] template that extends the base; askama escapes every `{{ value }}` for
//! HTML (`&`, `<`, `>`, `"`, `'`), so no page is assembled by string formatting and nothing a
//! user typed can become markup.
//!
//! # How a crate's page extends the base
//!
//! 1. Depend on `onshi-ui` and `askama` (workspace versions) in the crate's `Cargo.toml`.
//! 2. Put an `askama.toml` at the crate root that adds this crate's templates to the search
//!    path (paths are relative to the crate root):
//!
//!    ```toml
//!    [general]
//!    dirs = ["templates", "../onshi-ui/templates"]
//!    ```
//!
//! 3. Write the page under the crate's `templates/<crate>/`, e.g.
//!    `crates/onshi-payer/templates/payer/claims.html`:
//!
//!    ```jinja
//!    {% extends "ui/base.html" %}
//!    {% import "ui/macros.html" as ui %}
//!    {% block content %}
//!    <h1>請求一覧</h1>
//!    <form method="post" action="/payer/claims">{% call ui::csrf(layout) %}{% endcall %}
//!      <input type="text" name="q" value="{{ q }}"> <button type="submit">検索</button>
//!    </form>
//!    {% endblock %}
//!    ```
//!
//! 4. Feed it with a struct that has a `layout: onshi_ui::Layout` field (the base reads the
//!    title, the header and the signed-in user from it) and render it with [`page`]:
//!
//!    ```ignore
//!    #[derive(askama::Template)]
//!    #[template(path = "payer/claims.html")]
//!    struct Claims { layout: onshi_ui::Layout, q: String }
//!
//!    async fn claims() -> axum::response::Response {
//!        let layout = onshi_ui::Layout::new("請求一覧 — onshi").brand("審査支払機関");
//!        onshi_ui::page(&Claims { layout, q: String::new() })
//!    }
//!    ```
//!
//! Blocks of the base: `content` (the page, inside `<main>`) and `head` (extra `<style>` for
//! one page, e.g. the printable 申立書's A4 layout). The header is hidden when printing, as is
//! anything with `class="noprint"`. Classes of the stylesheet worth knowing: `panel`, `next`
//! (+ `tag`), `share` (+ `big`, `full`, `pending`), `result ok|ng|warn`, `errors`,
//! `reminders`, `notice`, `hint`, `rule`, `cols`, `field` (+ `name`), `kv` (a `<dl>`),
//! `button primary|danger`.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// The stylesheet, for a page that is not an askama template (none today) or a test.
pub const STYLESHEET: &str = include_str!("../templates/ui/style.css");

/// One link of the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavLink {
    /// The element id is `nav-{id}` (tests and screenshots find links by it).
    pub id: &'static str,
    pub label: &'static str,
    pub href: String,
    /// Marks the link of the screen being shown.
    pub current: bool,
}

impl NavLink {
    pub fn new(id: &'static str, label: &'static str, href: impl Into<String>) -> Self {
        NavLink {
            id,
            label,
            href: href.into(),
            current: false,
        }
    }
}

/// Who is signed in, shown at the right of the header with a logout button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// As shown: 「おんし 花子（S01）」.
    pub name: String,
    /// Where the logout form posts.
    pub logout_action: String,
    /// The session's CSRF token: the logout form carries it, and so does every form of the
    /// page through `{% call ui::csrf(layout) %}{% endcall %}`.
    pub csrf: String,
}

/// What the base layout needs: the title, the header (a brand and links), who is signed in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub title: String,
    /// Bold at the left of the header (the facility, the service); empty for none.
    pub brand: String,
    pub nav: Vec<NavLink>,
    pub signed_in: Option<SignedIn>,
}

impl Layout {
    pub fn new(title: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            ..Layout::default()
        }
    }

    pub fn brand(mut self, brand: impl Into<String>) -> Self {
        self.brand = brand.into();
        self
    }

    pub fn nav(mut self, nav: Vec<NavLink>) -> Self {
        self.nav = nav;
        self
    }

    /// Marks the header link with this id as the current screen.
    pub fn current(mut self, id: &str) -> Self {
        for n in &mut self.nav {
            n.current = n.id == id;
        }
        self
    }

    pub fn signed_in(mut self, s: Option<SignedIn>) -> Self {
        self.signed_in = s;
        self
    }

    /// The session's CSRF token, when someone is signed in.
    pub fn csrf(&self) -> Option<&str> {
        self.signed_in.as_ref().map(|s| s.csrf.as_str())
    }
}

/// Renders a page template as a `200 OK` HTML response.
pub fn page<T: Template>(t: &T) -> Response {
    page_with(StatusCode::OK, t)
}

/// Renders a page template with the given status. A template that fails to render (it cannot
/// once compiled, short of a `Display` impl failing) gives a plain 500.
pub fn page_with<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template");
            (StatusCode::INTERNAL_SERVER_ERROR, "画面を表示できません").into_response()
        }
    }
}

/// A page that only says one thing (an error, a notice), in the common look.
#[derive(Template)]
#[template(path = "ui/message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    /// `errors` (red) or `notice` (green) or `panel`.
    pub class: &'static str,
    /// A link back: (href, label).
    pub back: Option<(String, String)>,
}

impl MessagePage {
    pub fn error(layout: Layout, message: impl Into<String>) -> Self {
        MessagePage {
            heading: layout.title.clone(),
            layout,
            message: message.into(),
            class: "errors",
            back: None,
        }
    }

    pub fn back(mut self, href: impl Into<String>, label: impl Into<String>) -> Self {
        self.back = Some((href.into(), label.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_layout_escapes_title_brand_and_signed_in_name() {
        let layout = Layout::new("<script>alert(1)</script>")
            .brand("A&B \"clinic\" 'x'")
            .nav(vec![NavLink::new("home", "受付", "/desk/")])
            .current("home")
            .signed_in(Some(SignedIn {
                name: "<b>staff</b>".into(),
                logout_action: "/desk/logout".into(),
                csrf: "tok\"en".into(),
            }));
        let html = MessagePage::error(layout, "<img src=x onerror=alert(1)>")
            .back("/desk/", "戻る")
            .render()
            .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(
            html.contains("A&#38;B &#34;clinic&#34; &#39;x&#39;"),
            "{html}"
        );
        assert!(html.contains("&#60;b&#62;staff&#60;/b&#62;"));
        assert!(html.contains("value=\"tok&#34;en\""));
        assert!(!html.contains("<img src=x"));
        assert!(html.contains("aria-current=\"page\""));
        assert!(html.contains(".panel{"), "the stylesheet is inlined");
    }

    #[derive(Template)]
    #[template(
        ext = "html",
        source = r#"{% extends "ui/base.html" %}{% import "ui/macros.html" as ui %}{% block content %}<form>{% call ui::csrf(layout) %}{% endcall %}</form>{% call ui::rules(ids) %}{% endcall %}{% call ui::errors(error, "e") %}{% endcall %}{% endblock %}"#
    )]
    struct WithMacros {
        layout: Layout,
        ids: Vec<&'static str>,
        error: Option<String>,
    }

    #[test]
    fn macros_give_the_csrf_field_the_rule_ids_and_an_escaped_error() {
        let layout = Layout::new("t").signed_in(Some(SignedIn {
            name: "n".into(),
            logout_action: "/logout".into(),
            csrf: "abc".into(),
        }));
        let html = WithMacros {
            layout,
            ids: vec!["R3", "R15"],
            error: Some("<x>".into()),
        }
        .render()
        .unwrap();
        assert!(
            html.contains("<form><input type=\"hidden\" name=\"csrf\" value=\"abc\"></form>"),
            "{html}"
        );
        assert!(html.contains("根拠 R3 R15"), "{html}");
        assert!(
            html.contains("<div class=\"errors\" id=\"e\">&#60;x&#62;</div>"),
            "{html}"
        );
        let bare = WithMacros {
            layout: Layout::new("t"),
            ids: vec![],
            error: None,
        }
        .render()
        .unwrap();
        assert!(!bare.contains("csrf") && !bare.contains("根拠") && !bare.contains("errors\""));
    }
}
