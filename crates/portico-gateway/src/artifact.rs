//! Reading runtime artifacts into the gateway's [`ApiDef`] and following the artifact directory.
//! The document is `portico_artifact`'s [`RuntimeArtifact`], the one wire format the
//! Publisher's deploy step writes (its fields are listed there); the gateway depends on that
//! crate only, not on the management crates.
//!
//! `endpointConfig` follows WSO2: `endpoint_type` `http` (one `production_endpoints` /
//! `sandbox_endpoints` object), `load_balance` (arrays of them) or `failover` (one object plus
//! `production_failovers` / `sandbox_failovers` arrays). Each endpoint may carry WSO2's advanced
//! `config`: `actionDuration` (response timeout, ms), `suspendDuration` (initial suspension,
//! ms), `suspendMaxDuration` (ms), `factor` (progression factor); Portico adds
//! `connectTimeout` (ms) and `tlsVerification`. A setting that does not read as a number (or
//! boolean) leaves the default in place, as in WSO2.

use std::time::Duration;

use std::sync::Arc;

use portico_artifact::{Endpoint, EndpointConfig, EndpointType, Endpoints, RuntimeArtifact, Setting, Side};

use crate::model::{
    ApiDef, ApiStatus, BackendDef, CorsDef, EndpointDef, ResourceDef, SecurityDef, SuspendPolicy, TargetDef,
};

#[derive(Debug, thiserror::Error)]
#[error("runtime artifact {api}: {reason}")]
pub struct ArtifactError {
    pub api: String,
    pub reason: String,
}

/// Reads one artifact document (the JSON text of a file).
pub fn api_from_json(json: &[u8]) -> Result<ApiDef, ArtifactError> {
    let artifact = portico_artifact::from_slice(json).map_err(|e| ArtifactError {
        api: e.api,
        reason: e.reason,
    })?;
    api_from_artifact(&artifact)
}

/// Converts one artifact.
pub fn api_from_artifact(artifact: &RuntimeArtifact) -> Result<ApiDef, ArtifactError> {
    let fail = |reason: String| ArtifactError {
        api: artifact.id.clone(),
        reason,
    };
    // API Products: the APIs whose endpoints serve the operations (`backends`, `operations[].apiId`).
    let backends = artifact
        .backends
        .iter()
        .map(|b| {
            let (production, sandbox) = endpoints(b.endpoint_config.as_ref()).map_err(&fail)?;
            Ok(BackendDef {
                api_id: b.api_id.clone(),
                production,
                sandbox,
            })
        })
        .collect::<Result<Vec<_>, ArtifactError>>()?;
    let resources = artifact
        .operations
        .iter()
        .map(|op| {
            Ok(ResourceDef {
                verb: op.verb.to_ascii_uppercase(),
                template: op.target.clone(),
                secured: !op.auth_type.eq_ignore_ascii_case("none"),
                scopes: op.scopes.clone(),
                throttling_policy: op.throttling_policy.clone(),
                backend: match &op.api_id {
                    None => None,
                    Some(api_id) => Some(backends.iter().position(|b| &b.api_id == api_id).ok_or_else(|| {
                        fail(format!(
                            "operation {} {}: no backend for API {api_id}",
                            op.verb, op.target
                        ))
                    })?),
                },
            })
        })
        .collect::<Result<Vec<_>, ArtifactError>>()?;
    let (production, sandbox) = endpoints(artifact.endpoint_config.as_ref()).map_err(&fail)?;
    let cors = &artifact.cors_configuration;
    Ok(ApiDef {
        id: artifact.id.clone(),
        name: artifact.name.clone(),
        version: artifact.version.clone(),
        context: artifact.context.clone(),
        is_default_version: artifact.is_default_version,
        status: ApiStatus::from_wire(artifact.life_cycle_status.as_str()),
        resources,
        production,
        sandbox,
        // The artifact carries neither, as WSO2's API resource has neither: the consumer's
        // `Authorization` header is not forwarded, and the API sets no body limit of its own.
        pass_authorization_header: false,
        max_request_body: None,
        cors: cors.cors_configuration_enabled.then(|| CorsDef::from(cors)),
        security: SecurityDef::from_schemes(artifact.security_scheme.iter().map(String::as_str)),
        backends,
        audiences: artifact.audiences.clone(),
        api_throttling_policy: artifact.api_throttling_policy.clone().filter(|p| !p.is_empty()),
    })
}

/// The production and sandbox endpoints of an endpoint config (none without one).
fn endpoints(config: Option<&EndpointConfig>) -> Result<(Option<EndpointDef>, Option<EndpointDef>), String> {
    match config {
        Some(config) => Ok((endpoint(config, Side::Production)?, endpoint(config, Side::Sandbox)?)),
        None => Ok((None, None)),
    }
}

fn endpoint(config: &EndpointConfig, side: Side) -> Result<Option<EndpointDef>, String> {
    let Some(main) = config.endpoints(side) else {
        return Ok(None);
    };
    let targets = |endpoints: &Endpoints| endpoints.as_slice().iter().map(target).collect::<Vec<_>>();
    let def = match config.endpoint_type {
        EndpointType::LoadBalance => EndpointDef::LoadBalance(targets(main)),
        EndpointType::Failover => {
            let mut all = targets(main);
            if let Some(backups) = config.failovers(side) {
                all.extend(targets(backups));
            }
            EndpointDef::Failover(all)
        }
        EndpointType::Http => {
            let [one] = main.as_slice() else {
                return Err(format!(
                    "{}_endpoints of an `http` endpoint must be one object",
                    side.name()
                ));
            };
            EndpointDef::Single(target(one))
        }
    };
    Ok(Some(def))
}

fn target(endpoint: &Endpoint) -> TargetDef {
    let url = endpoint.url.as_str();
    let mut def = TargetDef::new(url);
    let Some(config) = &endpoint.config else {
        return def;
    };
    let ms = |setting: &Option<Setting<u64>>| setting.as_ref().and_then(Setting::get);
    if let Some(t) = ms(&config.action_duration).filter(|t| *t > 0) {
        def.response_timeout = Duration::from_millis(t);
    }
    if let Some(t) = ms(&config.connect_timeout).filter(|t| *t > 0) {
        def.connect_timeout = Duration::from_millis(t);
    }
    if config.tls_verification.as_ref().and_then(Setting::get) == Some(false) {
        def.verify_tls = false;
        if url.starts_with("https:") {
            tracing::warn!(
                endpoint = url,
                "TLS verification is OFF for this backend (tlsVerification = false): its certificate is not checked"
            );
        }
    }
    let initial = ms(&config.suspend_duration);
    let maximum = ms(&config.suspend_max_duration);
    let factor = config.factor.as_ref().and_then(Setting::get);
    if initial.is_some() || maximum.is_some() || factor.is_some() {
        let base = SuspendPolicy::default();
        let initial = initial.map(Duration::from_millis).unwrap_or(base.initial);
        def.suspend = SuspendPolicy {
            initial,
            progression_factor: factor.unwrap_or(base.progression_factor),
            maximum: maximum.map(Duration::from_millis).unwrap_or(initial.max(base.maximum)),
        };
    }
    def
}

/// One file that could not be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct LoadError {
    pub path: std::path::PathBuf,
    pub reason: String,
}

/// Reads every `*.json` artifact under `<dir>/<environment>/` for the given environments. Files
/// that cannot be read or converted are reported and skipped; the rest load. When one API is
/// deployed to several served environments, the newest deployment wins.
pub fn load_dir(dir: &std::path::Path, environments: &[String]) -> (Vec<ApiDef>, Vec<LoadError>) {
    let mut cache = ArtifactDir::new(dir.to_path_buf(), environments.to_vec());
    cache.refresh(Scan::Full);
    (
        cache.apis().iter().map(|a| ApiDef::clone(a)).collect(),
        cache.errors().to_vec(),
    )
}

/// What identifies a file's content without reading it: inode (free from `readdir`; writers
/// replace artifacts by renaming a new file over the old one, which changes it), size and
/// modification time (a `stat`, for files edited in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

/// A file's stamp, what reading it gave ((deployed time, API) or why it failed), the refresh
/// that last saw it and the environment directory (index) it is in.
struct CachedFile {
    stamp: Stamp,
    parsed: Result<(i64, Arc<ApiDef>), String>,
    seen: u64,
    environment: usize,
}

/// What says a directory's entries are as last listed: adding, removing or renaming an entry
/// changes its modification time, and replacing the directory changes its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DirStamp {
    inode: u64,
    modified: std::time::SystemTime,
}

/// A directory modified this recently is listed again even when its stamp is unchanged: the
/// modification time comes from a coarse clock (and, on a network file system, another
/// machine's), so a second change within the same tick would leave the stamp as it was.
const DIR_STAMP_SETTLE: Duration = Duration::from_secs(2);

/// One served environment's directory and the stamp it had when last listed, if that stamp
/// can be trusted to show the next change.
struct EnvironmentDir {
    path: std::path::PathBuf,
    listed: Option<DirStamp>,
}

/// How thoroughly [`ArtifactDir::refresh`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Directory listings only: new, removed and replaced (renamed-over) files. No `stat` per
    /// file, so it stays cheap with thousands of artifacts; used when a writer on this node
    /// says something changed.
    Quick,
    /// Also `stat`s every file, catching files edited in place; used periodically.
    Full,
}

/// An artifact directory with what was last read from it: a refresh only re-reads the files
/// that changed, and unchanged APIs keep their shared definitions (so the gateway reuses their
/// compiled form by pointer).
pub struct ArtifactDir {
    environments: Vec<EnvironmentDir>,
    files: std::collections::HashMap<std::path::PathBuf, CachedFile>,
    /// Counts refreshes; files not seen by the latest one are gone.
    generation: u64,
    /// The APIs and errors of the files as last collected.
    apis: Vec<Arc<ApiDef>>,
    errors: Vec<LoadError>,
}

fn dir_stamp(meta: &std::fs::Metadata) -> Option<DirStamp> {
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(DirStamp {
        inode,
        modified: meta.modified().ok()?,
    })
}

fn inode_of(entry: &std::fs::DirEntry) -> u64 {
    #[cfg(unix)]
    {
        std::os::unix::fs::DirEntryExt::ino(entry)
    }
    #[cfg(not(unix))]
    {
        let _ = entry;
        0
    }
}

impl ArtifactDir {
    pub fn new(dir: std::path::PathBuf, environments: Vec<String>) -> ArtifactDir {
        ArtifactDir {
            environments: environments
                .iter()
                .map(|env| EnvironmentDir {
                    path: dir.join(env),
                    listed: None,
                })
                .collect(),
            files: std::collections::HashMap::new(),
            generation: 0,
            apis: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Re-reads what changed; returns whether anything changed since the last refresh. The
    /// result is in [`ArtifactDir::apis`] and [`ArtifactDir::errors`]. A quick scan lists only
    /// the directories whose stamp changed: with thousands of artifacts, listing them every
    /// second was most of an idle node's work.
    pub fn refresh(&mut self, scan: Scan) -> bool {
        self.generation += 1;
        let generation = self.generation;
        let mut changed = false;
        let mut unlisted = vec![false; self.environments.len()];
        for (index, env) in self.environments.iter_mut().enumerate() {
            let listing_started = std::time::SystemTime::now();
            let stamp = std::fs::metadata(&env.path).ok().as_ref().and_then(dir_stamp);
            if scan == Scan::Quick && stamp.is_some() && stamp == env.listed {
                unlisted[index] = true;
                continue;
            }
            env.listed = stamp.filter(|s| {
                listing_started
                    .duration_since(s.modified)
                    .is_ok_and(|age| age >= DIR_STAMP_SETTLE)
            });
            let Ok(entries) = std::fs::read_dir(&env.path) else {
                env.listed = None;
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue;
                }
                let inode = inode_of(&entry);
                let cached = match self.files.get_mut(&path) {
                    Some(file) => {
                        file.seen = generation;
                        file.environment = index;
                        if scan == Scan::Quick && file.stamp.inode == inode && inode != 0 {
                            continue;
                        }
                        Some(file.stamp)
                    }
                    None => None,
                };
                let Ok(meta) = entry.metadata() else { continue };
                let stamp = Stamp {
                    inode,
                    len: meta.len(),
                    modified: meta.modified().ok(),
                };
                if cached == Some(stamp) {
                    continue;
                }
                changed = true;
                let parsed = read_artifact(&path);
                self.files.insert(
                    path,
                    CachedFile {
                        stamp,
                        parsed,
                        seen: generation,
                        environment: index,
                    },
                );
            }
        }
        let before = self.files.len();
        self.files
            .retain(|_, file| file.seen == generation || unlisted[file.environment]);
        changed |= self.files.len() != before;
        if changed || self.generation == 1 {
            self.collect();
        }
        changed
    }

    /// The APIs as of the last refresh, by id.
    pub fn apis(&self) -> &[Arc<ApiDef>] {
        &self.apis
    }

    /// The files that could not be loaded at the last refresh.
    pub fn errors(&self) -> &[LoadError] {
        &self.errors
    }

    /// Recomputes the API list from the cached files: when one API is deployed to several
    /// served environments, the newest deployment wins (ties: the first path in order).
    fn collect(&mut self) {
        let mut by_id: std::collections::HashMap<&str, (i64, &std::path::PathBuf, &Arc<ApiDef>)> =
            std::collections::HashMap::with_capacity(self.files.len());
        let mut errors = Vec::new();
        for (path, file) in &self.files {
            match &file.parsed {
                Ok((deployed, api)) => {
                    let wins = by_id
                        .get(api.id.as_str())
                        .is_none_or(|(t, p, _)| (*t, std::cmp::Reverse(*p)) < (*deployed, std::cmp::Reverse(path)));
                    if wins {
                        by_id.insert(api.id.as_str(), (*deployed, path, api));
                    }
                }
                Err(reason) => errors.push(LoadError {
                    path: path.clone(),
                    reason: reason.clone(),
                }),
            }
        }
        errors.sort_by(|a, b| a.path.cmp(&b.path));
        let mut apis: Vec<Arc<ApiDef>> = by_id.into_values().map(|(_, _, api)| Arc::clone(api)).collect();
        apis.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        self.apis = apis;
        self.errors = errors;
    }
}

fn read_artifact(path: &std::path::Path) -> Result<(i64, Arc<ApiDef>), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let artifact = portico_artifact::from_slice(&bytes).map_err(|e| e.to_string())?;
    api_from_artifact(&artifact)
        .map(|api| (artifact.deployed_time, Arc::new(api)))
        .map_err(|e| e.to_string())
}

impl ArtifactDir {
    /// Refreshes and, when anything changed (or `force`), installs the APIs into `gateway`.
    /// Returns the number of APIs installed, if it installed.
    pub fn sync_into(&mut self, gateway: &crate::Gateway, scan: Scan, force: bool) -> Option<usize> {
        let started = std::time::Instant::now();
        let changed = self.refresh(scan);
        if !(changed || force) {
            return None;
        }
        for e in &self.errors {
            tracing::warn!(error = %e, "artifact not loaded");
        }
        let count = self.apis.len();
        gateway.install_shared(self.apis.clone());
        tracing::debug!(
            apis = count,
            micros = started.elapsed().as_micros() as u64,
            "gateway artifacts loaded"
        );
        Some(count)
    }
}

/// Every this many intervals, [`serve_dir`] looks at every file ([`Scan::Full`]).
const FULL_SCAN_EVERY: u32 = 10;

/// Follows an artifact directory: a quick look at once when `wake` is notified by a writer on
/// this node, a quick look every `interval` (which also works where file events do not cross
/// machines, as with rsync or NFS: those writers rename files into place), and a full look
/// every tenth interval (files edited in place). Runs until dropped.
pub async fn serve_dir(
    gateway: std::sync::Arc<crate::Gateway>,
    mut artifacts: ArtifactDir,
    interval: Duration,
    wake: std::sync::Arc<tokio::sync::Notify>,
) {
    let mut ticks = 0u32;
    loop {
        let scan = tokio::select! {
            () = tokio::time::sleep(interval) => {
                ticks += 1;
                if ticks.is_multiple_of(FULL_SCAN_EVERY) { Scan::Full } else { Scan::Quick }
            }
            () = wake.notified() => Scan::Quick,
        };
        // File system calls block: a full scan of thousands of files must not hold up the
        // runtime's workers (the management APIs run there).
        let gateway = std::sync::Arc::clone(&gateway);
        let scanned = tokio::task::spawn_blocking(move || {
            artifacts.sync_into(&gateway, scan, false);
            artifacts
        })
        .await;
        match scanned {
            Ok(scanned) => artifacts = scanned,
            Err(e) => {
                tracing::error!(error = %e, "the artifact scan failed; the gateway keeps its routes");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// A document through the gateway's reading path, as a file's text.
    fn read(doc: &Value) -> Result<ApiDef, ArtifactError> {
        api_from_json(doc.to_string().as_bytes())
    }

    #[test]
    fn loads_a_directory_of_environments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let default = dir.path().join("Default");
        std::fs::create_dir_all(&default).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("Other")).expect("mkdir");
        let endpoint = json!({"endpoint_type": "http", "production_endpoints": {"url": "http://b"}});
        std::fs::write(default.join("api-1.json"), doc(endpoint.clone()).to_string()).expect("write");
        std::fs::write(default.join("broken.json"), "{").expect("write");
        std::fs::write(default.join("notes.txt"), "ignored").expect("write");
        let mut other = doc(endpoint);
        other["id"] = json!("api-2");
        std::fs::write(dir.path().join("Other/api-2.json"), other.to_string()).expect("write");

        let (apis, errors) = load_dir(dir.path(), &["Default".to_owned()]);
        assert_eq!(apis.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["api-1"]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("broken.json"), "{}", errors[0]);
        let (apis, _) = load_dir(dir.path(), &["Default".to_owned(), "Other".to_owned()]);
        assert_eq!(apis.len(), 2);
    }

    #[test]
    fn quick_scans_see_renamed_files_full_scans_see_edits_and_unchanged_apis_stay_shared() {
        let dir = tempfile::tempdir().expect("tempdir");
        let default = dir.path().join("Default");
        std::fs::create_dir_all(&default).expect("mkdir");
        let endpoint = json!({"endpoint_type": "http", "production_endpoints": {"url": "http://b"}});
        let write = |name: &str, id: &str, version: &str, rename: bool| {
            let mut d = doc(endpoint.clone());
            d["id"] = json!(id);
            d["version"] = json!(version);
            let target = default.join(name);
            if rename {
                let tmp = default.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, d.to_string()).expect("write");
                std::fs::rename(&tmp, &target).expect("rename");
            } else {
                std::fs::write(&target, d.to_string()).expect("write in place");
            }
        };
        write("a.json", "a", "1.0.0", true);
        write("b.json", "b", "1.0.0", true);
        let mut cache = ArtifactDir::new(dir.path().to_path_buf(), vec!["Default".into()]);
        let changed = cache.refresh(Scan::Full);
        let first = cache.apis().to_vec();
        assert!(changed);
        assert_eq!(first.len(), 2);

        // Replaced by rename (how the Publisher, rsync and editors' safe-save write): quick sees it.
        write("b.json", "b", "2.0.0", true);
        let changed = cache.refresh(Scan::Quick);
        let second = cache.apis().to_vec();
        assert!(changed);
        assert_eq!(second[1].version, "2.0.0");
        assert!(
            Arc::ptr_eq(&first[0], &second[0]),
            "unchanged API keeps its shared definition"
        );

        // Edited in place (same inode): only the full scan notices, by size or mtime.
        write("a.json", "a", "3.0.0.0", false);
        let changed = cache.refresh(Scan::Quick);
        assert!(!changed);
        let changed = cache.refresh(Scan::Full);
        let third = cache.apis().to_vec();
        assert!(changed);
        assert_eq!(third[0].version, "3.0.0.0");

        // Removed: quick sees it.
        std::fs::remove_file(default.join("b.json")).expect("remove");
        let changed = cache.refresh(Scan::Quick);
        let fourth = cache.apis().to_vec();
        assert!(changed);
        assert_eq!(fourth.len(), 1);
    }

    #[test]
    fn quick_scans_list_a_directory_only_when_its_stamp_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let default = dir.path().join("Default");
        std::fs::create_dir_all(&default).expect("mkdir");
        let endpoint = json!({"endpoint_type": "http", "production_endpoints": {"url": "http://b"}});
        let write = |id: &str| {
            let mut d = doc(endpoint.clone());
            d["id"] = json!(id);
            std::fs::write(default.join(format!("{id}.json")), d.to_string()).expect("write");
        };
        // Sets the directory's modification time back, as if its last change were long past
        // (always to the same time, so that the stamp comes out the same).
        let past = std::time::SystemTime::now() - Duration::from_secs(3600);
        let age_dir = || {
            std::fs::File::open(&default)
                .and_then(|d| d.set_times(std::fs::FileTimes::new().set_modified(past)))
                .expect("set the directory's mtime");
        };
        write("a");
        age_dir();
        let mut cache = ArtifactDir::new(dir.path().to_path_buf(), vec!["Default".into()]);
        assert!(cache.refresh(Scan::Full));
        assert_eq!(cache.apis().len(), 1);

        // A file added behind the stamp's back (the directory's mtime put back): a quick scan
        // trusts the unchanged stamp and does not list, which shows it skipped the listing...
        write("b");
        age_dir();
        assert!(!cache.refresh(Scan::Quick));
        assert_eq!(cache.apis().len(), 1, "the unchanged directory was not listed");
        // ...and keeps the files it did not list; a full scan lists whatever the stamp says.
        assert!(cache.refresh(Scan::Full));
        assert_eq!(cache.apis().len(), 2);

        // An ordinary change moves the stamp, so the next quick scan lists and sees it; while
        // the change is recent, every quick scan lists again (a same-tick change could hide).
        write("c");
        assert!(cache.refresh(Scan::Quick));
        assert_eq!(cache.apis().len(), 3);
        std::fs::remove_file(default.join("a.json")).expect("remove");
        assert!(cache.refresh(Scan::Quick));
        assert_eq!(cache.apis().len(), 2);
    }

    fn doc(endpoint_config: Value) -> Value {
        json!({
            "schema": 1, "id": "api-1", "name": "Pizza", "version": "1.0.0", "context": "/pizza",
            "isDefaultVersion": true, "lifeCycleStatus": "PUBLISHED",
            "endpointConfig": endpoint_config,
            "operations": [
                {"target": "/menu", "verb": "get", "authType": "None", "throttlingPolicy": "Unlimited", "scopes": []},
                {"target": "/order", "verb": "POST", "authType": "Application & Application User", "throttlingPolicy": "Gold", "scopes": ["order"]}
            ],
            "policies": ["Gold"], "apiThrottlingPolicy": null,
            "corsConfiguration": {"corsConfigurationEnabled": true, "accessControlAllowOrigins": ["https://app.example"],
                "accessControlAllowCredentials": true, "accessControlAllowHeaders": ["authorization"], "accessControlAllowMethods": ["GET"]},
            "securityScheme": ["oauth2"], "transport": ["http", "https"],
            "revisionId": "rev-1", "revisionNumber": 1, "environment": "Default", "vhost": "localhost", "deployedTime": 1
        })
    }

    #[test]
    fn reads_a_single_endpoint_api() {
        let api = read(&doc(json!({
            "endpoint_type": "http",
            "production_endpoints": {"url": "http://backend:8080/api", "config": {"actionDuration": "3000", "suspendDuration": 1000, "factor": 2, "suspendMaxDuration": 8000}},
            "sandbox_endpoints": {"url": "http://sandbox:8080/api"}
        })))
        .expect("valid");
        assert_eq!(api.id, "api-1");
        assert!(api.is_default_version);
        assert_eq!(api.status, ApiStatus::Published);
        assert_eq!(api.resources[0].verb, "GET");
        assert!(!api.resources[0].secured);
        assert!(api.resources[1].secured);
        assert_eq!(api.resources[1].scopes, vec!["order"]);
        let Some(EndpointDef::Single(t)) = &api.production else {
            panic!("single production endpoint")
        };
        assert_eq!(t.url, "http://backend:8080/api");
        assert_eq!(t.response_timeout, Duration::from_secs(3));
        assert_eq!(t.suspend.initial, Duration::from_secs(1));
        assert_eq!(t.suspend.maximum, Duration::from_secs(8));
        assert!(matches!(&api.sandbox, Some(EndpointDef::Single(s)) if s.url == "http://sandbox:8080/api"));
        assert_eq!(api.cors.as_ref().map(|c| c.allow_credentials), Some(true));
    }

    #[test]
    fn reads_load_balanced_and_failover_endpoints() {
        let lb = read(&doc(json!({
            "endpoint_type": "load_balance", "algoCombo": "roundRobin",
            "production_endpoints": [{"url": "http://a"}, {"url": "http://b"}]
        })))
        .expect("lb");
        assert!(matches!(&lb.production, Some(EndpointDef::LoadBalance(t)) if t.len() == 2));
        assert!(lb.sandbox.is_none());
        let fo = read(&doc(json!({
            "endpoint_type": "failover",
            "production_endpoints": {"url": "http://primary"},
            "production_failovers": [{"url": "http://backup1"}, {"url": "http://backup2"}]
        })))
        .expect("failover");
        let Some(EndpointDef::Failover(t)) = &fo.production else {
            panic!("failover")
        };
        assert_eq!(
            t.iter().map(|t| t.url.as_str()).collect::<Vec<_>>(),
            ["http://primary", "http://backup1", "http://backup2"]
        );
    }

    #[test]
    fn reads_a_product_with_per_resource_backends() {
        let mut d = doc(json!(null));
        d["type"] = json!("APIPRODUCT");
        d["backends"] = json!([
            {"apiId": "a", "name": "A", "version": "1", "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": "http://a"}}},
            {"apiId": "b", "name": "B", "version": "1", "endpointConfig": null}
        ]);
        d["operations"][0]["apiId"] = json!("b");
        d["operations"][1]["apiId"] = json!("a");
        let product = read(&d).expect("product");
        assert_eq!(product.backends.len(), 2);
        assert_eq!(product.resources[0].backend, Some(1));
        assert_eq!(product.resources[1].backend, Some(0));
        assert!(matches!(&product.backends[0].production, Some(EndpointDef::Single(t)) if t.url == "http://a"));
        d["operations"][0]["apiId"] = json!("zzz");
        assert!(read(&d).expect_err("unknown").to_string().contains("zzz"));
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let mut d = doc(json!(null));
        d["schema"] = json!(2);
        assert!(read(&d).expect_err("schema").to_string().contains("schema 2"));
        let err = read(&doc(
            json!({"endpoint_type": "awslambda", "production_endpoints": {"url": "x"}}),
        ))
        .expect_err("type");
        assert!(err.to_string().contains("awslambda"), "{err}");
        let no_endpoint = read(&doc(json!(null))).expect("no endpoint is allowed");
        assert!(no_endpoint.production.is_none());
    }
}
