//! The routing table: every deployed API compiled into lookup tables, built off the request path,
//! and the lookup the `route` phase makes in it.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use crate::model::{ApiDef, ApiStatus, ResourceDef};
use crate::upstream::endpoint::{BadTarget, EndpointPool};

/// One API, compiled.
#[derive(Debug)]
pub struct CompiledApi {
    /// Shared with the artifact cache, so an unchanged API is recognised by pointer.
    pub def: Arc<ApiDef>,
    resources: matchit::Router<Vec<(Method, usize)>>,
    pub production: Option<Arc<EndpointPool>>,
    pub sandbox: Option<Arc<EndpointPool>>,
    /// An API Product's backends, index for index with `def.backends`.
    pub backends: Vec<BackendPools>,
    /// The versioned base path, and the version-less one for the default version; computed
    /// once, shared by every table the API is in.
    versioned_basepath: Arc<str>,
    default_basepath: Arc<str>,
    /// The value an `API` deny condition names this API by, computed once (not per request).
    deny_condition_value: Box<str>,
}

/// The (production, sandbox) endpoint pools of one API an API Product's resources go to.
pub type BackendPools = (Option<Arc<EndpointPool>>, Option<Arc<EndpointPool>>);

impl CompiledApi {
    /// The base path with the version (`/pizza/1.0.0`): WSO2's API context, as throttle keys
    /// name the API.
    pub fn versioned_basepath(&self) -> &str {
        &self.versioned_basepath
    }

    /// How an `API` deny condition names this API (`portico_throttle::deny::api_condition_value`).
    pub fn deny_condition_value(&self) -> &str {
        &self.deny_condition_value
    }

    /// The (production, sandbox) pools serving `resource`: its backend's for an API Product's
    /// resource, the API's own otherwise.
    pub fn pools_for(&self, resource: &ResourceDef) -> (Option<&Arc<EndpointPool>>, Option<&Arc<EndpointPool>>) {
        match resource.backend.and_then(|i| self.backends.get(i)) {
            Some((production, sandbox)) => (production.as_ref(), sandbox.as_ref()),
            None => (self.production.as_ref(), self.sandbox.as_ref()),
        }
    }
}

/// A successful route lookup: parts of the snapshot (`'a`) and of the routed path (`'p`).
#[derive(Debug, Clone, Copy)]
pub struct RouteMatch<'a, 'p> {
    pub api: &'a CompiledApi,
    pub resource: &'a ResourceDef,
    /// Index of `resource` in the API's `resources`.
    pub resource_index: usize,
    /// The path after the API's base path (at least `/`): what the backend receives after its
    /// own base path.
    pub backend_path: &'p str,
}

/// Why no resource matched.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteError {
    /// No API has a base path that prefixes the request path.
    NoApi,
    /// The API exists but has no resource for this path.
    NoResource,
    /// A resource matches the path but not the method.
    MethodNotAllowed { allowed: Vec<String> },
}

/// Everything the gateway routes on (the API half of a snapshot).
#[derive(Debug, Default)]
pub struct RoutingTable {
    /// Base path -> index into `apis`; probed once or twice per request, so with a fast hash.
    basepaths: HashMap<Arc<str>, usize, foldhash::fast::RandomState>,
    apis: Vec<Arc<CompiledApi>>,
    /// False only for the empty snapshot a gateway starts with before its first load.
    pub loaded: bool,
}

/// A problem with one API while building a snapshot; the API is left out, the rest still load.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("API {api}: {source}")]
    Endpoint {
        api: String,
        #[source]
        source: BadTarget,
    },
    #[error("API {api}: resource {verb} {template}: {reason}")]
    Resource {
        api: String,
        verb: String,
        template: String,
        reason: String,
    },
}

impl RoutingTable {
    /// The table of a gateway that has loaded nothing yet (`/health` answers 503).
    pub fn empty() -> RoutingTable {
        RoutingTable::default()
    }

    /// Compiles the APIs. APIs that cannot be compiled are skipped and reported, so one bad
    /// artifact never takes the others down. Retired APIs are not routable. APIs whose
    /// definition is unchanged since `previous` are reused, not recompiled, so deploying one
    /// more API among thousands costs little.
    pub fn build(
        defs: Vec<Arc<ApiDef>>,
        pools: &PoolCache,
        previous: &RoutingTable,
    ) -> (RoutingTable, Vec<BuildError>) {
        let reusable: HashMap<&str, &Arc<CompiledApi>> = previous.apis.iter().map(|a| (a.def.id.as_str(), a)).collect();
        let mut snapshot = RoutingTable {
            loaded: true,
            ..RoutingTable::default()
        };
        let mut errors = Vec::new();
        for def in defs {
            if def.status == ApiStatus::Retired {
                continue;
            }
            let compiled = match reusable.get(def.id.as_str()) {
                Some(existing) if Arc::ptr_eq(&existing.def, &def) || existing.def == def => Ok(Arc::clone(existing)),
                _ => compile(def, pools).map(Arc::new),
            };
            match compiled {
                Ok(api) => {
                    let index = snapshot.apis.len();
                    snapshot.basepaths.insert(api.versioned_basepath.clone(), index);
                    snapshot.apis.push(api);
                }
                Err(e) => errors.push(e),
            }
        }
        // A version-less default path belongs to the API that is the default version, whatever
        // the insertion order was.
        for (index, api) in snapshot.apis.iter().enumerate() {
            if api.def.is_default_version {
                snapshot.basepaths.insert(api.default_basepath.clone(), index);
            }
        }
        (snapshot, errors)
    }

    /// Number of routable APIs.
    pub fn api_count(&self) -> usize {
        self.apis.len()
    }

    /// Finds the API and resource for a normalised path.
    pub fn route<'p>(&self, method: &Method, path: &'p str) -> Result<RouteMatch<'_, 'p>, RouteError> {
        let (api, rest) = self.find_api(path).ok_or(RouteError::NoApi)?;
        let matched = api
            .resources
            .at(resource_lookup(rest))
            .map_err(|_| RouteError::NoResource)?;
        let methods = matched.value;
        let hit = methods.iter().find(|(m, _)| m == method).or_else(|| {
            // HEAD is served by a GET resource.
            (method == Method::HEAD)
                .then(|| methods.iter().find(|(m, _)| m == Method::GET))
                .flatten()
        });
        match hit {
            Some((_, index)) => Ok(RouteMatch {
                api,
                resource: &api.def.resources[*index],
                resource_index: *index,
                backend_path: if rest.is_empty() { "/" } else { rest },
            }),
            None => Err(RouteError::MethodNotAllowed {
                allowed: methods.iter().map(|(m, _)| m.to_string()).collect(),
            }),
        }
    }

    /// The API whose base path is the longest prefix of `path` (at a segment boundary).
    fn find_api<'a>(&self, path: &'a str) -> Option<(&CompiledApi, &'a str)> {
        let mut end = path.len();
        loop {
            let candidate = &path[..end];
            if let Some(index) = self.basepaths.get(candidate) {
                return Some((&self.apis[*index], &path[end..]));
            }
            end = candidate.rfind('/')?;
            if end == 0 {
                return None;
            }
        }
    }

    /// All resources of the API serving `path`, for CORS preflight (methods allowed there).
    pub fn methods_at(&self, path: &str) -> Option<(&CompiledApi, Vec<String>)> {
        let (api, rest) = self.find_api(path)?;
        let matched = api.resources.at(resource_lookup(rest)).ok()?;
        Some((api, matched.value.iter().map(|(m, _)| m.to_string()).collect()))
    }
}

/// The base paths an API answers on: `/{context}/{version}` (or the context with `{version}`
/// filled in), plus the version-less path for the default version.
fn versioned_basepath(def: &ApiDef) -> String {
    let context = def.context.trim_end_matches('/');
    if context.contains("{version}") {
        context.replace("{version}", &def.version)
    } else {
        format!("{context}/{}", def.version)
    }
}

fn default_basepath(def: &ApiDef) -> String {
    let context = def.context.trim_end_matches('/');
    let path = context.replace("/{version}", "").replace("{version}", "");
    if path.is_empty() { "/".to_owned() } else { path }
}

fn compile(def: Arc<ApiDef>, pools: &PoolCache) -> Result<CompiledApi, BuildError> {
    let mut by_path: HashMap<String, Vec<(Method, usize)>> = HashMap::new();
    for (index, resource) in def.resources.iter().enumerate() {
        let resource_error = |reason: String| BuildError::Resource {
            api: def.id.clone(),
            verb: resource.verb.clone(),
            template: resource.template.clone(),
            reason,
        };
        let method = Method::from_bytes(resource.verb.to_ascii_uppercase().as_bytes())
            .map_err(|_| resource_error("not an HTTP method".into()))?;
        for path in matchit_paths(&resource.template) {
            let entry = by_path.entry(path).or_default();
            if !entry.iter().any(|(m, _)| *m == method) {
                entry.push((method.clone(), index));
            }
        }
    }
    let mut resources = matchit::Router::new();
    for (path, mut methods) in by_path {
        // Usually one or two methods per path: the vector's first growth left room for four.
        methods.shrink_to_fit();
        resources
            .insert(path.clone(), methods)
            .map_err(|e| BuildError::Resource {
                api: def.id.clone(),
                verb: "*".into(),
                template: path,
                reason: e.to_string(),
            })?;
    }
    let pool = |endpoint: &Option<crate::model::EndpointDef>| -> Result<Option<Arc<EndpointPool>>, BuildError> {
        endpoint
            .as_ref()
            .map(|e| pools.get(e))
            .transpose()
            .map_err(|source| BuildError::Endpoint {
                api: def.id.clone(),
                source,
            })
    };
    let production = pool(&def.production)?;
    let sandbox = pool(&def.sandbox)?;
    let backends = def
        .backends
        .iter()
        .map(|b| Ok((pool(&b.production)?, pool(&b.sandbox)?)))
        .collect::<Result<Vec<_>, BuildError>>()?;
    Ok(CompiledApi {
        resources,
        production,
        sandbox,
        backends,
        versioned_basepath: versioned_basepath(&def).into(),
        default_basepath: default_basepath(&def).into(),
        deny_condition_value: portico_throttle::deny::api_condition_value(&def.context, &def.version).into(),
        def,
    })
}

/// matchit paths for a WSO2 URL template. `/*` and `/x/*` match the prefix itself and anything
/// below it; `{param}` segments stay parameters; query templates (`?a={a}`) are ignored.
fn matchit_paths(template: &str) -> Vec<String> {
    let template = template.split('?').next().unwrap_or(template);
    let template = if template.starts_with('/') {
        template.to_owned()
    } else {
        format!("/{template}")
    };
    if template == "/*" {
        return vec!["/".to_owned(), "/{*rest}".to_owned()];
    }
    if let Some(prefix) = template.strip_suffix("/*") {
        return vec![prefix.to_owned(), format!("{prefix}/{{*rest}}")];
    }
    let trimmed = template.trim_end_matches('/');
    if trimmed.is_empty() {
        vec!["/".to_owned()]
    } else {
        vec![trimmed.to_owned()]
    }
}

/// The path a resource is looked up by: the part after the API's base path without a trailing
/// slash (`/menu/` is served by `/menu`). Routes are stored the same way: one route per
/// template instead of one per spelling keeps each API's router about half the size.
fn resource_lookup(rest: &str) -> &str {
    match rest.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ if rest.is_empty() => "/",
        _ => rest,
    }
}

/// Endpoint pools reused across snapshots, so that suspension state and round-robin position
/// survive redeployments of other APIs.
#[derive(Debug, Default)]
pub struct PoolCache {
    pools: std::sync::Mutex<Vec<Arc<EndpointPool>>>,
}

impl PoolCache {
    fn get(&self, def: &crate::model::EndpointDef) -> Result<Arc<EndpointPool>, BadTarget> {
        let mut pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = pools.iter().find(|p| &p.def == def) {
            return Ok(existing.clone());
        }
        let pool = Arc::new(EndpointPool::new(def.clone())?);
        pools.push(pool.clone());
        Ok(pool)
    }

    /// Drops pools no snapshot uses any more.
    pub fn retain_used(&self) {
        let mut pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        pools.retain(|p| Arc::strong_count(p) > 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointDef, TargetDef};

    fn api(id: &str, context: &str, version: &str, default: bool, templates: &[(&str, &str)]) -> ApiDef {
        ApiDef {
            id: id.into(),
            name: id.into(),
            version: version.into(),
            context: context.into(),
            is_default_version: default,
            status: ApiStatus::Published,
            resources: templates
                .iter()
                .map(|(verb, t)| ResourceDef {
                    verb: (*verb).into(),
                    template: (*t).into(),
                    secured: true,
                    scopes: vec![],
                    throttling_policy: "Unlimited".into(),
                    backend: None,
                })
                .collect(),
            production: Some(EndpointDef::Single(TargetDef::new("http://127.0.0.1:1/"))),
            sandbox: None,
            pass_authorization_header: false,
            max_request_body: None,
            cors: None,
            security: Default::default(),
            backends: Vec::new(),
            audiences: Vec::new(),
            api_throttling_policy: None,
        }
    }

    fn build(defs: Vec<ApiDef>) -> RoutingTable {
        let defs = defs.into_iter().map(Arc::new).collect();
        let (s, errors) = RoutingTable::build(defs, &PoolCache::default(), &RoutingTable::empty());
        assert!(errors.is_empty(), "{errors:?}");
        s
    }

    #[test]
    fn routes_context_version_resource() {
        let s = build(vec![api(
            "p1",
            "/pizza",
            "1.0.0",
            false,
            &[("GET", "/menu"), ("POST", "/order/{id}")],
        )]);
        let m = s.route(&Method::GET, "/pizza/1.0.0/menu").expect("match");
        assert_eq!(m.api.def.id, "p1");
        assert_eq!(m.backend_path, "/menu");
        let m = s.route(&Method::POST, "/pizza/1.0.0/order/42").expect("param");
        assert_eq!(m.resource.template, "/order/{id}");
        assert_eq!(
            s.route(&Method::GET, "/pizza/1.0.0/order/42").err(),
            Some(RouteError::MethodNotAllowed {
                allowed: vec!["POST".into()]
            })
        );
        assert_eq!(
            s.route(&Method::GET, "/pizza/1.0.0/nothing").err(),
            Some(RouteError::NoResource)
        );
        assert_eq!(
            s.route(&Method::GET, "/pizza/menu").err(),
            Some(RouteError::NoApi),
            "not the default version"
        );
        assert_eq!(
            s.route(&Method::GET, "/pizzas/1.0.0/menu").err(),
            Some(RouteError::NoApi),
            "segment boundary"
        );
        assert!(s.route(&Method::HEAD, "/pizza/1.0.0/menu").is_ok(), "HEAD uses GET");
        let m = s.route(&Method::GET, "/pizza/1.0.0/menu/").expect("trailing slash");
        assert_eq!(m.resource.template, "/menu");
        assert_eq!(m.backend_path, "/menu/", "the backend sees the path as sent");
        assert_eq!(
            s.route(&Method::POST, "/pizza/1.0.0/order/42/")
                .expect("param, trailing slash")
                .resource
                .template,
            "/order/{id}"
        );
        assert_eq!(
            s.route(&Method::POST, "/pizza/1.0.0/order/").err(),
            Some(RouteError::NoResource),
            "an empty parameter"
        );
    }

    #[test]
    fn default_version_and_version_in_context() {
        let s = build(vec![
            api("v1", "/shop/{version}/store", "1.0", false, &[("GET", "/items")]),
            api("v2", "/shop/{version}/store", "2.0", true, &[("GET", "/items")]),
        ]);
        assert_eq!(
            s.route(&Method::GET, "/shop/1.0/store/items").expect("v1").api.def.id,
            "v1"
        );
        assert_eq!(
            s.route(&Method::GET, "/shop/2.0/store/items").expect("v2").api.def.id,
            "v2"
        );
        assert_eq!(
            s.route(&Method::GET, "/shop/store/items").expect("default").api.def.id,
            "v2"
        );
    }

    #[test]
    fn wildcards_match_everything_below() {
        let s = build(vec![api(
            "w",
            "/w",
            "1",
            false,
            &[("GET", "/*"), ("GET", "/fixed"), ("PUT", "/files/*")],
        )]);
        assert_eq!(s.route(&Method::GET, "/w/1").expect("root").backend_path, "/");
        let cases = [
            (Method::GET, "/w/1/", "/*"),
            (Method::GET, "/w/1/a/b/c", "/*"),
            (Method::GET, "/w/1/fixed", "/fixed"),
            (Method::GET, "/w/1/fixed/", "/fixed"),
            (Method::PUT, "/w/1/files/x/y", "/files/*"),
            (Method::PUT, "/w/1/files", "/files/*"),
            (Method::PUT, "/w/1/files/", "/files/*"),
        ];
        for (method, path, template) in cases {
            let matched = s
                .route(&method, path)
                .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
            assert_eq!(matched.resource.template, template, "{method} {path}");
        }
    }

    #[test]
    fn retired_apis_are_not_routable_and_bad_apis_are_reported() {
        let mut retired = api("r", "/r", "1", false, &[("GET", "/x")]);
        retired.status = ApiStatus::Retired;
        let mut broken = api("b", "/b", "1", false, &[("GET", "/x")]);
        broken.production = Some(EndpointDef::Single(TargetDef::new("not a url")));
        let (s, errors) = RoutingTable::build(
            vec![
                retired.into(),
                broken.into(),
                api("ok", "/ok", "1", false, &[("GET", "/x")]).into(),
            ],
            &PoolCache::default(),
            &RoutingTable::empty(),
        );
        assert_eq!(s.api_count(), 1);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("API b"), "{}", errors[0]);
        assert!(s.route(&Method::GET, "/r/1/x").is_err());
        assert!(s.route(&Method::GET, "/ok/1/x").is_ok());
    }

    #[test]
    fn pools_survive_rebuilds() {
        let cache = PoolCache::default();
        let (a, _) = RoutingTable::build(
            vec![api("p", "/p", "1", false, &[("GET", "/x")]).into()],
            &cache,
            &RoutingTable::empty(),
        );
        let (b, _) = RoutingTable::build(vec![api("p", "/p", "1", false, &[("GET", "/y")]).into()], &cache, &a);
        let pa = a.apis[0].production.as_ref().expect("pool");
        let pb = b.apis[0].production.as_ref().expect("pool");
        assert!(Arc::ptr_eq(pa, pb));
        // An unchanged API is reused as compiled; a changed one is compiled anew.
        let (c, _) = RoutingTable::build(vec![api("p", "/p", "1", false, &[("GET", "/y")]).into()], &cache, &b);
        assert!(Arc::ptr_eq(&b.apis[0], &c.apis[0]));
        assert!(!Arc::ptr_eq(&a.apis[0], &b.apis[0]));
    }
}
