//! Phase 7, `response`: runs for every request, last before `logging`, whatever the phases
//! before it decided. An error becomes its WSO2 response here (the context notes its code); the
//! CORS headers decided for the request are added (the API's rules once it is known, the
//! gateway's `[apim.cors]` until then), and so are the rate-limit fields of a request that counted
//! against a throttling limit. A backend's answer otherwise goes to the consumer as it
//! came: status, header fields (the backend codec left out the hop-by-hop ones) and body,
//! streamed.
//!
//! CORS preflights stop here too: they are answered by the gateway, for any path where the API
//! has a resource, without authentication or a backend call.
//!
//! Reads the context's CORS decision and the session's rate-limit note; sets the context's error
//! code; adds to the response's headers.

use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderMap, HeaderValue};

use super::Session;
use crate::error::GatewayError;
use crate::response::GatewayResponse;
use crate::{Gateway, GatewayBody, full_body};

impl Gateway {
    pub(super) fn response(
        &self,
        session: &mut Session<'_>,
        result: Result<GatewayResponse, GatewayError>,
    ) -> GatewayResponse {
        let mut response = match result {
            Ok(response) => response,
            Err(error) => {
                session.ctx.error_code = Some(error.code);
                GatewayResponse::Local(error.into_response())
            }
        };
        if let Some(allowed) = &session.ctx.cors_origin {
            add_cors_headers(response.headers_to_add(), allowed, session.ctx.cors_credentials);
        }
        if let Some(note) = &session.rate_limit {
            note.add_to(response.headers_to_add());
        }
        response
    }

    /// Decides the CORS answer for the consumer's `Origin` (if it sent one) by the rules of the
    /// API the request is for (its own, else the gateway's), or the gateway's while the API is
    /// not known.
    pub(super) fn decide_cors(&self, session: &mut Session<'_>) {
        let Some(origin) = session.origin else {
            return;
        };
        let ctx = &mut session.ctx;
        let rules = ctx
            .api
            .as_deref()
            .and_then(|a| a.cors.as_ref())
            .or(self.settings.cors.as_ref());
        ctx.cors_origin = rules.and_then(|r| r.allowed_origin(origin));
        ctx.cors_credentials = rules.is_some_and(|r| r.allow_credentials);
    }

    /// Answers a CORS preflight: the methods the resource at the path has, and what the CORS
    /// rules allow.
    pub(super) fn preflight(&self, session: &mut Session<'_>) -> Result<Response<GatewayBody>, GatewayError> {
        let path = session.path.map_err(GatewayError::bad_path)?;
        let (api, methods) = session
            .snapshot
            .routes
            .methods_at(path)
            .ok_or_else(GatewayError::no_matching_resource)?;
        session.ctx.api = Some(api.def.clone());
        self.decide_cors(session);
        let rules = api.def.cors.as_ref().or(self.settings.cors.as_ref());
        let mut response = Response::new(full_body(Bytes::new()));
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
            headers.insert(header::ALLOW, v);
        }
        if let Some(rules) = rules.filter(|_| session.ctx.cors_origin.is_some()) {
            if let Ok(v) = HeaderValue::from_str(&rules.allow_methods.join(",")) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
            }
            if let Ok(v) = HeaderValue::from_str(&rules.allow_headers.join(",")) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        Ok(response)
    }
}

fn add_cors_headers(headers: &mut HeaderMap, allowed_origin: &str, credentials: bool) {
    if let Ok(v) = HeaderValue::from_str(allowed_origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    if credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if allowed_origin != "*" {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}
