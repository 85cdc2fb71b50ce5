//! The Handlebars templates: every `*.handlebars` under `views/`, rendered
//! inside one layout (`views/layouts/main.handlebars`) as express-handlebars
//! does it — the view renders to `body`, which the layout places with
//! `{{{body}}}`. Every `{{value}}` is HTML-escaped by Handlebars.

use std::path::Path;

use handlebars::{DirectorySourceOptions, Handlebars, RenderError};
use serde::Serialize;
use serde_json::{json, Value};

const LAYOUT: &str = "layouts/main";

pub struct Templates {
    registry: Handlebars<'static>,
}

impl Templates {
    /// Loads every `*.handlebars` file under `dir`; a view is named by its
    /// path without the extension (`home`, `layouts/main`,
    /// `partials/nav`), and any of them can be used as a partial.
    pub fn load(dir: &Path) -> Result<Templates, handlebars::TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        let mut options = DirectorySourceOptions::default();
        options.tpl_extension = ".handlebars".to_owned();
        registry.register_templates_directory(dir, options)?;
        registry.register_helper("money", Box::new(money));
        Ok(Templates { registry })
    }

    /// Renders `view` with `data` inside the layout; `viewer` (the logged-in
    /// user, if any) fills the nav.
    pub fn render_page(
        &self,
        view: &str,
        title: &str,
        viewer: Option<&impl Serialize>,
        data: &Value,
    ) -> Result<String, RenderError> {
        let body = self.registry.render(view, data)?;
        let layout = json!({ "title": title, "body": body, "page": view, "viewer": viewer });
        self.registry.render(LAYOUT, &layout)
    }
}

handlebars::handlebars_helper!(money: |amount: f64| format!("{amount:.2}"));
