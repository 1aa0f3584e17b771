//! WSO2's `Environment` objects for the gateway environments of `[[apim.gateway.environment]]`
//! (the Admin API's and the Publisher's `GET /environments`).

use portico_config::Config;
use serde_json::{Value, json};

use super::ids::stable_id;

/// WSO2's WebSocket ports before `[server] offset` is added (this gateway serves no WebSocket
/// APIs yet; the ports are shown as WSO2 shows them).
const WS_PORT: u16 = 9099;
const WSS_PORT: u16 = 8099;

/// The configured environments, read-only as in WSO2 (they come from the configuration).
pub(crate) fn environments_json(config: &Config) -> Vec<Value> {
    let ports = config.ports();
    let offset = config.server.offset;
    config
        .apim
        .gateway
        .environment
        .iter()
        .map(|env| {
            let vhosts: Vec<Value> = env
                .vhosts
                .iter()
                .map(|host| {
                    json!({
                        "host": host,
                        "httpContext": "",
                        "httpPort": ports.gateway_http,
                        "httpsPort": ports.gateway_https,
                        "wsPort": WS_PORT.saturating_add(offset),
                        "wssPort": WSS_PORT.saturating_add(offset),
                    })
                })
                .collect();
            let mut uris = Vec::new();
            if let Some(u) = &env.http_endpoint {
                uris.push(json!({ "protocol": "http", "endpointURI": u }));
            }
            if let Some(u) = &env.https_endpoint {
                uris.push(json!({ "protocol": "https", "endpointURI": u }));
            }
            json!({
                "id": stable_id(&env.name),
                "name": env.name,
                "displayName": env.display_name.clone().unwrap_or_else(|| env.name.clone()),
                "provider": env.provider,
                "type": env.kind,
                "gatewayType": env.gateway_type,
                "description": env.description.clone().unwrap_or_default(),
                "isReadOnly": true,
                "mode": "READ_WRITE",
                "vhosts": vhosts,
                "endpointURIs": uris,
                "additionalProperties": [],
                "showInApiConsole": env.show_in_api_console,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use portico_config::Config;

    fn vhost_ports(toml: &str) -> Vec<(u64, u64, u64, u64)> {
        let config = Config::parse(toml, Path::new("/home/n"), Path::new("conf/deployment.toml")).expect("valid");
        super::environments_json(&config)
            .iter()
            .flat_map(|env| env["vhosts"].as_array().cloned().unwrap_or_default())
            .map(|v| {
                let port = |k: &str| v[k].as_u64().expect(k);
                (port("httpPort"), port("httpsPort"), port("wsPort"), port("wssPort"))
            })
            .collect()
    }

    const MIN: &str = "[super_admin]\npassword = \"pw\"\n";

    #[test]
    fn websocket_ports_are_wso2_defaults() {
        assert_eq!(vhost_ports(MIN), vec![(8280, 8243, 9099, 8099)]);
    }

    #[test]
    fn server_offset_shifts_websocket_ports_too() {
        let toml = format!("[server]\noffset = 3\n{MIN}");
        assert_eq!(vhost_ports(&toml), vec![(8283, 8246, 9102, 8102)]);
    }
}
