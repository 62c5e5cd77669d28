//! Route metadata, declared where each route is registered (`routes.rs`): who may call it
//! ([`Access`]), which rate limit counts it ([`LimitClass`]) and how it is audited
//! ([`Action`], or not at all).
//!
//! [`Routes`] registers a handler with the axum router and its [`Meta`] in a [`RouteTable`] in
//! one call, so no route can lack metadata. The `classify` middleware looks the request's
//! metadata up once, by its route template (`MatchedPath`) and method, and leaves it in the
//! request for the rate-limit, authentication and audit middleware (`Meta::of`). Nothing
//! classifies a request by its path string, except that a path no route matches takes the
//! metadata of the area it falls in ([`Routes::unmatched`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
pub use medilink_platform::Action;

use crate::state::AppState;

/// The route classes that are limited separately (declared per route; their rates are
/// [`crate::auth::RateLimits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    /// Credential endpoints.
    Login,
    /// TOTP endpoints.
    Totp,
    /// Everything else.
    Api,
    /// The probes (`/health`, `/health/ready`, `/metrics`): never limited, so that a load
    /// balancer or an orchestrator probing from one address never sees a `429` (issue #24).
    Probe,
}

impl LimitClass {
    /// The metrics label of the class.
    pub fn label(self) -> &'static str {
        match self {
            LimitClass::Login => "login",
            LimitClass::Totp => "totp",
            LimitClass::Api => "api",
            LimitClass::Probe => "probe",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed.
    Public,
    /// Any signed-in user, even before TOTP enrolment (the caller's own account).
    Account,
    /// Patient data: every role (the consent guard decides what each may see), physicians
    /// and admins with TOTP passed.
    Clinical,
    /// Admins, with TOTP passed.
    Admin,
}

/// The metadata of one method of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Who may call it.
    pub access: Access,
    /// The rate limit that counts it.
    pub limit: LimitClass,
    /// The action its audit record names (`None`: not audited by the request middleware).
    pub audit: Option<Action>,
}

impl Meta {
    const fn of(access: Access) -> Meta {
        Meta {
            access,
            limit: LimitClass::Api,
            audit: None,
        }
    }

    /// No token needed; API rate limit; not audited.
    pub const fn public() -> Meta {
        Meta::of(Access::Public)
    }

    /// A probe: no token needed and none read (a token sent along is ignored, so no
    /// key-value lookup), never rate limited, not audited.
    pub const fn probe() -> Meta {
        Meta {
            access: Access::Public,
            limit: LimitClass::Probe,
            audit: None,
        }
    }

    /// Any signed-in user; API rate limit; not audited.
    pub const fn account() -> Meta {
        Meta::of(Access::Account)
    }

    /// Every role, TOTP passed where mandatory; API rate limit; not audited.
    pub const fn clinical() -> Meta {
        Meta::of(Access::Clinical)
    }

    /// Admins only; API rate limit; not audited.
    pub const fn admin() -> Meta {
        Meta::of(Access::Admin)
    }

    /// Audited as `action`.
    pub const fn audit(self, action: Action) -> Meta {
        Meta {
            audit: Some(action),
            ..self
        }
    }

    /// Counted by the `limit` rate limit.
    pub const fn limit(self, limit: LimitClass) -> Meta {
        Meta { limit, ..self }
    }

    /// The metadata `classify` left in `request`. Without it (a router built without the
    /// middleware) the strictest class but admin, audited.
    pub fn of_request(request: &Request) -> Meta {
        request
            .extensions()
            .get::<Meta>()
            .copied()
            .unwrap_or(Meta::clinical().audit(Action::Other))
    }
}

/// The metadata of every route, by template and method, and of the unmatched areas.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: HashMap<&'static str, Vec<(Method, Meta)>>,
    unmatched: Vec<(&'static str, Meta)>,
}

impl RouteTable {
    /// The metadata of a `method` request to `path`, matched to the route `template` (`None`:
    /// no route matched).
    ///
    /// - A registered method: its metadata.
    /// - A method the route does not have (`405`, `HEAD`, `OPTIONS`): the access of the
    ///   path's area, the route's rate limit, and audited as [`Action::Other`] when any of
    ///   its methods is audited.
    /// - No route: the metadata of the path's area ([`Routes::unmatched`]), else clinical.
    /// - `OPTIONS` is public everywhere (CORS preflights are answered before routing).
    pub fn meta(&self, method: &Method, template: Option<&str>, path: &str) -> Meta {
        let area = || {
            self.unmatched
                .iter()
                .filter(|(prefix, _)| path.starts_with(prefix))
                .max_by_key(|(prefix, _)| prefix.len())
                .map_or(Meta::clinical(), |(_, meta)| *meta)
        };
        let meta = match template.and_then(|template| self.routes.get(template)) {
            Some(methods) => match methods.iter().find(|(m, _)| m == method) {
                Some((_, meta)) => *meta,
                None => Meta {
                    access: area().access,
                    limit: methods
                        .first()
                        .map_or(LimitClass::Api, |(_, meta)| meta.limit),
                    audit: methods
                        .iter()
                        .any(|(_, meta)| meta.audit.is_some())
                        .then_some(Action::Other),
                },
            },
            None => area(),
        };
        if method == Method::OPTIONS {
            Meta {
                access: Access::Public,
                ..meta
            }
        } else {
            meta
        }
    }

    /// Every registered route: `(method, template, metadata)`.
    pub fn routes(&self) -> impl Iterator<Item = (&Method, &'static str, Meta)> + '_ {
        self.routes.iter().flat_map(|(template, methods)| {
            methods
                .iter()
                .map(move |(method, meta)| (method, *template, *meta))
        })
    }

    fn add(&mut self, method: Method, template: &'static str, meta: Meta) {
        let methods = self.routes.entry(template).or_default();
        assert!(
            methods.iter().all(|(m, _)| *m != method),
            "{method} {template} is registered twice"
        );
        methods.push((method, meta));
    }
}

/// The router and its [`RouteTable`], built together: each route is registered with its
/// metadata.
#[derive(Debug)]
pub struct Routes {
    router: Router<AppState>,
    table: RouteTable,
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

macro_rules! method {
    ($name:ident, $method:ident, $doc:literal) => {
        #[doc = $doc]
        pub fn $name<H, T>(self, template: &'static str, handler: H, meta: Meta) -> Routes
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.on(Method::$method, template, $name(handler), meta)
        }
    };
}

impl Routes {
    /// No routes.
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            table: RouteTable::default(),
        }
    }

    method!(
        get,
        GET,
        "Registers `GET template` (axum answers `HEAD` with it too)."
    );
    method!(post, POST, "Registers `POST template`.");
    method!(put, PUT, "Registers `PUT template`.");
    method!(patch, PATCH, "Registers `PATCH template`.");
    method!(delete, DELETE, "Registers `DELETE template`.");

    fn on(
        mut self,
        method: Method,
        template: &'static str,
        route: MethodRouter<AppState>,
        meta: Meta,
    ) -> Routes {
        self.table.add(method, template, meta);
        self.router = self.router.route(template, route);
        self
    }

    /// The metadata of requests to paths starting with `prefix` that no route matches, and
    /// the access of methods a route there does not have (the longest prefix wins).
    pub fn unmatched(mut self, prefix: &'static str, meta: Meta) -> Routes {
        self.table.unmatched.push((prefix, meta));
        self
    }

    /// The routes registered so far answer `handler` to a method they do not have.
    pub fn method_not_allowed_fallback<H, T>(mut self, handler: H) -> Routes
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.router = self.router.method_not_allowed_fallback(handler);
        self
    }

    /// Wraps the routes registered so far in `layer` (see [`Router::layer`]).
    pub fn layer<L>(mut self, layer: L) -> Routes
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as tower::Service<Request>>::Response: axum::response::IntoResponse + 'static,
        <L::Service as tower::Service<Request>>::Error: Into<std::convert::Infallible> + 'static,
        <L::Service as tower::Service<Request>>::Future: Send + 'static,
    {
        self.router = self.router.layer(layer);
        self
    }

    /// Both sets of routes.
    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        for (template, methods) in other.table.routes {
            for (method, meta) in methods {
                self.table.add(method, template, meta);
            }
        }
        self.table.unmatched.extend(other.table.unmatched);
        self
    }

    /// The router and the table of its routes.
    pub fn into_parts(self) -> (Router<AppState>, RouteTable) {
        (self.router, self.table)
    }
}

/// Middleware: looks the request's [`Meta`] up in `table` and leaves it in the request.
pub(crate) async fn classify(
    State(table): State<Arc<RouteTable>>,
    mut request: Request,
    next: Next,
) -> Response {
    let template = request.extensions().get::<MatchedPath>().cloned();
    let meta = table.meta(
        request.method(),
        template.as_ref().map(MatchedPath::as_str),
        request.uri().path(),
    );
    request.extensions_mut().insert(meta);
    next.run(request).await
}
