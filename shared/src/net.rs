//! Outbound HTTP: the one way Herald calls other servers (HTTP data sources; Slack, Teams and
//! webhook deliveries). Requests are guarded against reaching the inside of the network
//! Herald runs in (server-side request forgery):
//!
//! - only `http` and `https` URLs;
//! - private, loopback, link-local, unspecified, multicast, CGNAT, unique-local, reserved and
//!   documentation addresses are refused, including IPv4 addresses embedded in IPv6 ones
//!   (IPv4-mapped, NAT64, 6to4), unless the workspace allows them explicitly
//!   ([`NetworkPolicy`], from `settings.network.allowed_addresses`);
//! - host names are resolved here, every address is vetted, and the connection goes only to a
//!   vetted address (a custom resolver), so a name cannot resolve to a public address when
//!   checked and to a private one when connected (DNS rebinding);
//! - redirects are never followed (a public server could redirect inside);
//! - every request has a timeout, and the response body is read up to a size cap.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;

use crate::domain::NetworkSettings;

/// An IP address or a CIDR range of them (`10.0.0.5`, `10.1.0.0/16`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    /// Parses an address or range; the error says what is wrong, for the settings API.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let ip: IpAddr =
            address.parse().map_err(|_| format!("`{text}` is not an IP address or a CIDR range (10.0.0.0/8)"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}` has an invalid prefix length (0 to {max})"))?,
        };
        if prefix == 0 {
            return Err(format!("`{text}` would allow every address; list the ranges Herald should reach"));
        }
        // An IPv4-mapped IPv6 range is the IPv4 range it maps.
        let (ip, prefix) = match ip {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (ip, prefix),
            },
            _ => (ip, prefix),
        };
        Ok(Self { network: mask(ip, prefix), prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// `ip` with all but its first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 { 0 } else { bits & (u32::MAX << (32 - u32::from(prefix.min(32)))) };
            IpAddr::V4(Ipv4Addr::from(kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 { 0 } else { bits & (u128::MAX << (128 - u32::from(prefix.min(128)))) };
            IpAddr::V6(Ipv6Addr::from(kept))
        }
    }
}

/// Whether `ip` is a public unicast address anyone on the internet could reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = a == 0 // "this network", 0.0.0.0
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local (cloud metadata)
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && (c == 0 || c == 2)) // IETF assignments, documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // ::/96 holds the unspecified and loopback addresses and deprecated IPv4-compatible ones.
    if s[..6] == [0; 6] {
        return false;
    }
    // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4] {
        return is_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    // 6to4 (2002::/16) reaches the IPv4 address in its second and third segments.
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    let teredo = s[0] == 0x2001 && s[1] == 0;
    let documentation = s[0] == 0x2001 && s[1] == 0xdb8;
    let local_nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1;
    // Only global unicast (2000::/3) is routable; that excludes ULA fc00::/7, link-local
    // fe80::/10, site-local fec0::/10, multicast ff00::/8 and the discard prefix 100::/64.
    let global_unicast = s[0] & 0xe000 == 0x2000;
    global_unicast && !teredo && !documentation && !local_nat64
}

/// Which non-public addresses a caller may reach (public ones are always allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct NetworkPolicy {
    allowed: Vec<AddressRange>,
}

impl NetworkPolicy {
    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses and the given ranges.
    pub fn allowing(ranges: impl IntoIterator<Item = AddressRange>) -> Self {
        let mut allowed: Vec<AddressRange> = ranges.into_iter().collect();
        allowed.sort_by_key(ToString::to_string);
        allowed.dedup();
        Self { allowed }
    }

    /// The policy of a workspace. Settings are validated when saved; an entry that does not
    /// parse allows nothing.
    pub fn of(settings: &NetworkSettings) -> Self {
        Self::allowing(settings.allowed_addresses.iter().filter_map(|a| AddressRange::parse(a).ok()))
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|range| range.contains(ip))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("`{0}` is not a valid URL")]
    InvalidUrl(String),
    #[error("only http and https URLs can be requested, not `{0}:`")]
    UnsupportedScheme(String),
    #[error(
        "{}; a workspace admin can allow it under settings.network.allowed_addresses",
        blocked_target(host, address)
    )]
    Blocked { host: String, address: IpAddr },
    #[error("cannot resolve {host}: {message}")]
    Resolve { host: String, message: String },
    #[error("cannot connect to {host}: {message}")]
    Connect { host: String, message: String },
    #[error("{host} did not answer within {timeout_ms} ms")]
    Timeout { host: String, timeout_ms: u64 },
    #[error("the answer of {host} is larger than the limit of {max_bytes} bytes")]
    TooLarge { host: String, max_bytes: usize },
    #[error("invalid request header `{0}`")]
    InvalidHeader(String),
    #[error("request to {host} failed: {message}")]
    Request { host: String, message: String },
    #[error("outbound HTTP could not be set up: {0}")]
    Setup(String),
}

/// `10.0.0.5 is not…` or `intranet.example resolves to 10.0.0.5, which is not…`.
fn blocked_target(host: &str, address: &IpAddr) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        format!("{host} is not a public address")
    } else {
        format!("{host} resolves to {address}, which is not a public address")
    }
}

/// Limits and extra headers of one request.
#[derive(Debug, Clone)]
pub struct RequestOptions {
    /// For the whole exchange: connecting, sending, and reading the whole body.
    pub timeout: Duration,
    /// Largest response body read; a larger one fails with [`NetError::TooLarge`].
    pub max_bytes: usize,
    pub headers: HeaderMap,
}

impl Default for RequestOptions {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10), max_bytes: 5 * 1024 * 1024, headers: HeaderMap::new() }
    }
}

impl RequestOptions {
    pub fn new(timeout: Duration, max_bytes: usize) -> Self {
        Self { timeout, max_bytes, headers: HeaderMap::new() }
    }

    /// Adds a header; its value is treated as sensitive (never printed in debug output).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, NetError> {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| NetError::InvalidHeader(name.into()))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| NetError::InvalidHeader(name.to_string()))?;
        value.set_sensitive(true);
        self.headers.append(name, value);
        Ok(self)
    }
}

/// A response whose whole body was read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }
}

/// Most clients kept (one per distinct allow-list).
const MAX_CLIENTS: usize = 32;

/// The outbound HTTP client. One per process; cheap to share.
///
/// Connections are pooled per network policy, never across policies, so a connection that
/// one workspace's allow-list permitted is never reused for another workspace.
pub struct OutboundHttp {
    clients: Mutex<HashMap<NetworkPolicy, reqwest::Client>>,
    user_agent: String,
}

impl Default for OutboundHttp {
    fn default() -> Self {
        Self::new()
    }
}

impl OutboundHttp {
    pub fn new() -> Self {
        Self { clients: Mutex::new(HashMap::new()), user_agent: format!("Herald/{}", env!("CARGO_PKG_VERSION")) }
    }

    /// `GET url`.
    pub async fn get(
        &self,
        policy: &NetworkPolicy,
        url: &str,
        options: &RequestOptions,
    ) -> Result<HttpResponse, NetError> {
        self.send(policy, Method::GET, url, None, options).await
    }

    /// `POST url` with `body` as JSON.
    pub async fn post_json<T: Serialize + ?Sized>(
        &self,
        policy: &NetworkPolicy,
        url: &str,
        body: &T,
        options: &RequestOptions,
    ) -> Result<HttpResponse, NetError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| NetError::Request { host: host_of(url), message: format!("cannot encode the body: {e}") })?;
        self.send(policy, Method::POST, url, Some(body), options).await
    }

    async fn send(
        &self,
        policy: &NetworkPolicy,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        options: &RequestOptions,
    ) -> Result<HttpResponse, NetError> {
        let url = Url::parse(url).map_err(|_| NetError::InvalidUrl(redact_url(url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(NetError::UnsupportedScheme(url.scheme().to_string()));
        }
        let host =
            url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| NetError::InvalidUrl(redact_url(url.as_str())))?;
        let host = host.to_string();
        // Literal addresses never reach the resolver: vet them here.
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>()
            && !policy.permits(ip)
        {
            return Err(NetError::Blocked { host, address: ip });
        }

        let client = self.client(policy)?;
        let mut request = client.request(method, url).timeout(options.timeout).headers(options.headers.clone());
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let timeout_ms = options.timeout.as_millis() as u64;
        let exchange = async {
            let mut response = request.send().await.map_err(|e| classify(e, &host, timeout_ms))?;
            let too_large = || NetError::TooLarge { host: host.clone(), max_bytes: options.max_bytes };
            if response.content_length().is_some_and(|len| len > options.max_bytes as u64) {
                return Err(too_large());
            }
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut body = BytesMut::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, &host, timeout_ms))? {
                if body.len() + chunk.len() > options.max_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse { status, headers, body: body.freeze() })
        };
        match tokio::time::timeout(options.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout { host, timeout_ms }),
        }
    }

    /// The client of `policy` (built on first use).
    fn client(&self, policy: &NetworkPolicy) -> Result<reqwest::Client, NetError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(policy) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(VettingResolver { policy: policy.clone() })
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(self.user_agent.clone())
            .build()
            .map_err(|e| NetError::Setup(e.to_string()))?;
        if clients.len() >= MAX_CLIENTS {
            clients.clear();
        }
        clients.insert(policy.clone(), client.clone());
        Ok(client)
    }
}

/// Resolves a host name and keeps only the addresses the policy permits; the connection can
/// only go to those.
struct VettingResolver {
    policy: NetworkPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {address}, which is not a public address")]
struct BlockedResolution {
    host: String,
    address: IpAddr,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {message}")]
struct ResolveFailed {
    host: String,
    message: String,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((host.as_str(), 0)).await.map(Iterator::collect::<Vec<SocketAddr>>);
            let found = match lookup {
                Ok(found) => found,
                Err(e) => return Err(ResolveFailed { host, message: e.to_string() }.into()),
            };
            let vetted: Vec<SocketAddr> = found.iter().copied().filter(|a| policy.permits(a.ip())).collect();
            match (vetted.is_empty(), found.first()) {
                (false, _) => Ok(Box::new(vetted.into_iter()) as Addrs),
                (true, Some(first)) => Err(BlockedResolution { host, address: first.ip() }.into()),
                (true, None) => Err(ResolveFailed { host, message: "the name has no addresses".into() }.into()),
            }
        })
    }
}

/// Turns a client error into what went wrong, in words a user can act on.
fn classify(error: reqwest::Error, host: &str, timeout_ms: u64) -> NetError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    let mut root = String::new();
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedResolution>() {
            return NetError::Blocked { host: blocked.host.clone(), address: blocked.address };
        }
        if let Some(failed) = e.downcast_ref::<ResolveFailed>() {
            return NetError::Resolve { host: failed.host.clone(), message: failed.message.clone() };
        }
        root = e.to_string();
        source = e.source();
    }
    let host = host.to_string();
    if error.is_timeout() {
        NetError::Timeout { host, timeout_ms }
    } else if error.is_connect() {
        NetError::Connect { host, message: root }
    } else {
        NetError::Request { host, message: error.without_url().to_string() }
    }
}

/// The host of a URL, for messages.
fn host_of(url: &str) -> String {
    Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default()
}

/// A URL as messages may show it: its scheme and host at most (paths, queries and user info
/// may carry tokens: Slack and Teams webhook URLs are secrets whole). Works on text that is
/// not a valid URL too.
pub fn redact_url(text: &str) -> String {
    if let Ok(url) = Url::parse(text)
        && let Some(host) = url.host_str()
    {
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        return format!("{}://{host}{port}/…", url.scheme());
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return "the URL".into();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let shown =
        |s: &str, max: usize| s.len() <= max && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.:[]".contains(c));
    match (shown(scheme, 16), shown(host, 255)) {
        (true, true) => format!("{scheme}://{host}/…"),
        (true, false) => format!("{scheme}://…"),
        _ => "the URL".into(),
    }
}

/// Checks that `text` is an `http(s)` URL Herald could call; the reason never repeats the URL
/// (it may be a secret).
pub fn check_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("must be an http(s) URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must be an http(s) URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password before the host".into());
    }
    Ok(url)
}

/// Whether a request to `a` goes where one to `b` goes (neither may be open to parameters).
pub fn same_origin(a: &str, b: &str) -> bool {
    origin(a).is_some_and(|origin| self::origin(b) == Some(origin))
}

/// Where a request to `url` goes: scheme, host and port (the default port spelled out). `None`
/// when the text is not a URL, or a placeholder could choose its host.
pub fn origin(url: &str) -> Option<(String, String, u16)> {
    let url = Url::parse(url.trim()).ok()?;
    // A `{param}` placeholder in the host is not a place: parameters would choose it.
    let host = url.host_str().filter(|h| !h.contains(['{', '}', '%']))?.to_ascii_lowercase();
    Some((url.scheme().to_string(), host, url.port_or_known_default()?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    use axum::routing::get;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_url_in_a_message_shows_its_scheme_and_host_at_most() {
        for (url, shown) in [
            ("https://hooks.slack.com/services/T0/B0/token", "https://hooks.slack.com/…"),
            ("https://user:pw@example.com:8443/p?q=token", "https://example.com:8443/…"),
            ("https://hooks.slack.com:99999/services/T0/B0/token", "https://hooks.slack.com:99999/…"),
            ("https://us%er:pw@ex ample.com/token", "https://…"),
            ("not a url with token", "the URL"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn url_checks_say_what_is_wrong_without_repeating_the_url() {
        for bad in [
            "https://hooks.slack.com:99999/services/T0/B0/token",
            "ftp://example.com/token",
            "https://",
            "https://user:token@example.com/",
            "token",
        ] {
            let reason = check_http_url(bad).unwrap_err();
            assert!(!reason.contains("token"), "{bad}: {reason}");
        }
        assert!(check_http_url("http://127.0.0.1:8080/hook").is_ok());
    }

    #[test]
    fn origins_spell_out_default_ports() {
        assert_eq!(origin("https://Example.com/a"), origin("https://example.com:443/b?c"));
        assert_ne!(origin("https://example.com/a"), origin("http://example.com/a"));
        assert_eq!(origin("https://{host}/a"), None);
    }

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for blocked in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.2.10",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(!is_public(ip(blocked)), "{blocked} should not be public");
        }
        for public in
            ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.32.0.1", "::ffff:8.8.8.8", "2606:4700::1111"]
        {
            assert!(is_public(ip(public)), "{public} should be public");
        }
    }

    #[test]
    fn address_ranges_parse_normalise_and_match() {
        let range = AddressRange::parse("10.1.2.3/16").unwrap();
        assert_eq!(range.to_string(), "10.1.0.0/16");
        assert!(range.contains(ip("10.1.200.7")));
        assert!(range.contains(ip("::ffff:10.1.0.9")));
        assert!(!range.contains(ip("10.2.0.1")));
        assert!(AddressRange::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(AddressRange::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert_eq!(AddressRange::parse("::ffff:192.168.0.0/112").unwrap().to_string(), "192.168.0.0/16");
        for bad in ["intranet", "10.0.0.0/33", "0.0.0.0/0", "::/0", "10.0.0.0/x", ""] {
            assert!(AddressRange::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_policy_permits_public_addresses_and_only_the_private_ones_it_lists() {
        let policy = NetworkPolicy::allowing([AddressRange::parse("127.0.0.1").unwrap()]);
        assert!(policy.permits(ip("8.8.8.8")));
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(!policy.permits(ip("127.0.0.2")));
        assert!(!NetworkPolicy::public_only().permits(ip("127.0.0.1")));
    }

    /// A server on 127.0.0.1 with a JSON route, a slow one, a big one and a redirect.
    async fn server() -> String {
        let app = Router::new()
            .route("/json", get(|| async { axum::Json(serde_json::json!([{"a": 1}])) }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/big", get(|| async { "x".repeat(10_000) }))
            .route(
                "/stream",
                get(|| async {
                    let chunks = (0..100).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 1_000])));
                    axum::body::Body::from_stream(futures::stream::iter(chunks))
                }),
            )
            .route("/redirect", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/json")]).into_response() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    fn loopback() -> NetworkPolicy {
        NetworkPolicy::allowing([AddressRange::parse("127.0.0.1").unwrap()])
    }

    fn options() -> RequestOptions {
        RequestOptions::new(Duration::from_secs(2), 4_096)
    }

    #[tokio::test]
    async fn a_loopback_server_is_refused_by_default() {
        let base = server().await;
        let http = OutboundHttp::new();
        let err = http.get(&NetworkPolicy::public_only(), &format!("{base}/json"), &options()).await.unwrap_err();
        assert!(matches!(err, NetError::Blocked { address, .. } if address == ip("127.0.0.1")), "{err:?}");
        assert!(err.to_string().contains("settings.network.allowed_addresses"));
    }

    #[tokio::test]
    async fn an_allow_listed_loopback_server_is_reached() {
        let base = server().await;
        let response = OutboundHttp::new().get(&loopback(), &format!("{base}/json"), &options()).await.unwrap();
        assert!(response.is_success());
        assert_eq!(&response.body[..], br#"[{"a":1}]"#);
    }

    #[tokio::test]
    async fn the_name_localhost_is_refused_by_default_because_it_resolves_to_loopback() {
        let base = server().await.replace("127.0.0.1", "localhost");
        let err = OutboundHttp::new()
            .get(&NetworkPolicy::public_only(), &format!("{base}/json"), &options())
            .await
            .unwrap_err();
        assert!(matches!(&err, NetError::Blocked { host, .. } if host == "localhost"), "{err:?}");
        // Allowing the address it resolves to allows the name too.
        let ok = OutboundHttp::new().get(&loopback(), &format!("{base}/json"), &options()).await.unwrap();
        assert_eq!(ok.status, 200);
    }

    #[tokio::test]
    async fn other_schemes_and_disguised_loopback_addresses_are_refused() {
        let http = OutboundHttp::new();
        let policy = NetworkPolicy::public_only();
        let err = http.get(&policy, "file:///etc/passwd", &options()).await.unwrap_err();
        assert!(matches!(err, NetError::UnsupportedScheme(_)));
        for url in
            ["http://2130706433/", "http://0x7f.1/", "http://[::ffff:127.0.0.1]/", "http://[::1]:1/", "http://0/"]
        {
            let err = http.get(&policy, url, &options()).await.unwrap_err();
            assert!(matches!(err, NetError::Blocked { .. }), "{url}: {err:?}");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_refused_whether_announced_or_streamed() {
        let base = server().await;
        let http = OutboundHttp::new();
        let err = http.get(&loopback(), &format!("{base}/big"), &options()).await.unwrap_err();
        assert!(matches!(err, NetError::TooLarge { max_bytes: 4_096, .. }), "{err:?}");
        let err = http.get(&loopback(), &format!("{base}/stream"), &options()).await.unwrap_err();
        assert!(matches!(err, NetError::TooLarge { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_slow_server_times_out() {
        let base = server().await;
        let quick = RequestOptions::new(Duration::from_millis(200), 4_096);
        let started = std::time::Instant::now();
        let err = OutboundHttp::new().get(&loopback(), &format!("{base}/slow"), &quick).await.unwrap_err();
        assert!(matches!(err, NetError::Timeout { timeout_ms: 200, .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_redirect_is_returned_as_is_and_not_followed() {
        let base = server().await;
        let response = OutboundHttp::new().get(&loopback(), &format!("{base}/redirect"), &options()).await.unwrap();
        assert_eq!(response.status, 302);
        assert!(response.is_redirect());
        assert!(response.body.is_empty());
    }

    #[tokio::test]
    async fn json_is_posted_with_its_content_type_and_headers() {
        let app = Router::new().route(
            "/hook",
            axum::routing::post(|headers: axum::http::HeaderMap, body: String| async move {
                format!(
                    "{}|{}|{body}",
                    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default(),
                    headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or_default()
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let opts = options().with_header("X-Api-Key", "s3cret").unwrap();
        assert!(!format!("{opts:?}").contains("s3cret"));
        let response = OutboundHttp::new()
            .post_json(&loopback(), &format!("http://{address}/hook"), &serde_json::json!({"text": "hi"}), &opts)
            .await
            .unwrap();
        assert_eq!(&response.body[..], br#"application/json|s3cret|{"text":"hi"}"#);
    }
}
