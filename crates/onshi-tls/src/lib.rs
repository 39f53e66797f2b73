//! TLS for onshi's links (issue 10, docs/security.md): serving an axum router over rustls,
//! loading a certificate and key from PEM files, and a local certificate authority (rcgen)
//! for `onshi demo` and tests. Plain HTTP is allowed only on a loopback address, and only
//! when asked for explicitly ([`plain_http_allowed`]).
//!
//! Crypto is rustls with the `ring` provider; no home-made cryptography.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS: {0}")]
    Config(String),
    #[error("certificate authority: {0}")]
    Ca(String),
}

/// A server's TLS configuration (certificate chain and key).
#[derive(Clone)]
pub struct ServerTls(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls(..)")
    }
}

impl ServerTls {
    /// From a PEM certificate chain and a PEM private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, TlsError> {
        Self::build(cert_pem, key_pem, None)
    }

    /// As [`ServerTls::from_pem`], and every client must present a certificate signed by a CA
    /// of `client_ca_pem` (rustls' WebPKI client verifier); a client without one, or with one
    /// of another CA, gets no connection. Handlers see the client's certificate as
    /// [`PeerCertificate`].
    pub fn from_pem_requiring_clients(
        cert_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: &[u8],
    ) -> Result<Self, TlsError> {
        Self::build(cert_pem, key_pem, Some((client_ca_pem, false)))
    }

    /// As [`ServerTls::from_pem_requiring_clients`], but a client may also connect without a
    /// certificate (one of another CA is still refused): the routes that need one check
    /// [`PeerCertificate`] themselves (the central: facilities' calls need it, the patient
    /// portal does not).
    pub fn from_pem_with_optional_clients(
        cert_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: &[u8],
    ) -> Result<Self, TlsError> {
        Self::build(cert_pem, key_pem, Some((client_ca_pem, true)))
    }

    fn build(
        cert_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: Option<(&[u8], bool)>,
    ) -> Result<Self, TlsError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Config(format!("certificate: {e}")))?;
        if certs.is_empty() {
            return Err(TlsError::Config(
                "certificate: no certificate in the PEM".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| TlsError::Config(format!("private key: {e}")))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match client_ca_pem {
            None => builder.with_no_client_auth(),
            Some((pem, optional)) => {
                let mut roots = rustls::RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(pem) {
                    let c = c.map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
                    roots
                        .add(c)
                        .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(TlsError::Config(
                        "client CA: no certificate in the PEM".into(),
                    ));
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                let verifier = if optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut cfg = builder
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls(Arc::new(cfg)))
    }

    /// From PEM files.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        Self::from_pem(&read_file(cert)?, &read_file(key)?)
    }

    /// From PEM files, asking for client certificates of the CA in `client_ca`.
    pub fn from_files_requiring_clients(
        cert: &Path,
        key: &Path,
        client_ca: &Path,
    ) -> Result<Self, TlsError> {
        Self::from_pem_requiring_clients(
            &read_file(cert)?,
            &read_file(key)?,
            &read_file(client_ca)?,
        )
    }
}

fn read_file(p: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(p).map_err(|e| TlsError::File {
        path: p.display().to_string(),
        message: e.to_string(),
    })
}

/// The certificate a TLS client presented (end entity, DER), put in each request's
/// extensions by [`serve`] when the server asks for client certificates.
#[derive(Clone)]
pub struct PeerCertificate(pub CertificateDer<'static>);

impl std::fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerCertificate(..)")
    }
}

/// The name a facility's client certificate carries (DNS subject alternative name): the
/// 医療機関コード under `facility.onshi`.
pub fn facility_name(code: &str) -> String {
    format!("{code}.facility.onshi")
}

impl PeerCertificate {
    /// Whether the certificate was issued for the facility `code` (its subject alternative
    /// name is [`facility_name`]; checked by webpki, the chain already by the handshake).
    pub fn is_for_facility(&self, code: &str) -> bool {
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let Ok(ee) = webpki::EndEntityCert::try_from(&self.0) else {
            return false;
        };
        let Ok(name) = rustls_pki_types::ServerName::try_from(facility_name(code)) else {
            return false;
        };
        ee.verify_is_valid_for_subject_name(&name).is_ok()
    }
}

/// The listener options every onshi server shares (`#[command(flatten)]`): TLS from PEM
/// files, or plain HTTP by the explicit `--plain-http`, on loopback only.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ListenTls {
    /// the server's certificate chain (PEM) for TLS
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// the server's private key (PEM)
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// serve plain HTTP instead of TLS: only on a loopback address (tests, one machine)
    #[arg(long, conflicts_with = "tls_cert")]
    pub plain_http: bool,
}

impl ListenTls {
    /// The TLS configuration asked for on `listen`; `None` for plain HTTP, which is refused
    /// off loopback and when not asked for.
    pub fn choose(&self, listen: SocketAddr) -> Result<Option<ServerTls>, TlsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Ok(Some(ServerTls::from_files(c, k)?)),
            _ if self.plain_http && plain_http_allowed(listen) => Ok(None),
            _ if self.plain_http => Err(TlsError::Config(format!(
                "--plain-http is only allowed on a loopback address, not {listen}: give --tls-cert and --tls-key"
            ))),
            _ => Err(TlsError::Config(
                "give --tls-cert and --tls-key (PEM; `onshi demo` makes a local CA under <data>/tls/), or --plain-http on a loopback address".into(),
            )),
        }
    }
}

impl ListenTls {
    /// As [`ListenTls::choose`], with client certificates of the CA in `client_ca` accepted
    /// (optional at the handshake, see [`ServerTls::from_pem_with_optional_clients`]) when
    /// given; `client_ca` without TLS is an error.
    pub fn choose_with_optional_clients(
        &self,
        listen: SocketAddr,
        client_ca: Option<&Path>,
    ) -> Result<Option<ServerTls>, TlsError> {
        match (&self.tls_cert, &self.tls_key, client_ca) {
            (Some(c), Some(k), Some(ca)) => Ok(Some(ServerTls::from_pem_with_optional_clients(
                &read_file(c)?,
                &read_file(k)?,
                &read_file(ca)?,
            )?)),
            (_, _, Some(_)) => Err(TlsError::Config(
                "client certificates need TLS: give --tls-cert and --tls-key".into(),
            )),
            _ => self.choose(listen),
        }
    }

    /// As [`ListenTls::choose`] for a listener of the same server on `listen` that asks for
    /// client certificates of the CA in `client_ca` (required with TLS; `flag` names the
    /// option that gives it, for the message).
    pub fn choose_requiring_clients(
        &self,
        listen: SocketAddr,
        client_ca: Option<&Path>,
        flag: &str,
    ) -> Result<Option<ServerTls>, TlsError> {
        match (&self.tls_cert, &self.tls_key, client_ca) {
            (Some(c), Some(k), Some(ca)) => {
                Ok(Some(ServerTls::from_files_requiring_clients(c, k, ca)?))
            }
            (Some(_), Some(_), None) => Err(TlsError::Config(format!(
                "{flag} is required with TLS: the CA (PEM) whose client certificates are accepted"
            ))),
            _ => self.choose(listen),
        }
    }
}

/// Serves `app` on `listener` over TLS, or plain HTTP when `tls` is `None` (both give the
/// handlers the client's address as `ConnectInfo<SocketAddr>`).
pub async fn serve_either(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        Some(tls) => serve(listener, app, tls, shutdown).await,
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown)
            .await
        }
    }
}

/// Whether plain HTTP may be served on `addr`: only on loopback (tests, one machine).
pub fn plain_http_allowed(addr: SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves (connections in progress
/// finish on their own). A failed handshake only closes that connection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: ServerTls,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.0);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                // the client's address, as `axum::serve(.., into_make_service_with_connect_info)`
                // gives it (per-client rate limits)
                let app = app
                    .clone()
                    .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
                tokio::spawn(async move {
                    let stream = match acceptor.accept(tcp).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    };
                    let client_cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| PeerCertificate(c.clone().into_owned()));
                    let app = match client_cert {
                        Some(c) => app.layer(axum::Extension(c)),
                        None => app,
                    };
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await
                    {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
}

/// A local certificate authority, one server certificate it signed and the client
/// certificates of facilities (PEM).
pub struct LocalCa {
    /// the CA certificate: what clients (and servers checking client certificates) trust
    pub ca_pem: String,
    /// the server certificate, for `names` (DNS names or IP addresses)
    pub cert_pem: String,
    /// the server's private key
    pub key_pem: String,
    /// one client certificate per facility (subject alternative name [`facility_name`])
    pub clients: Vec<ClientCert>,
}

/// A facility's client certificate and key (PEM).
pub struct ClientCert {
    pub facility: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl ClientCert {
    /// Certificate and key in one PEM (what `reqwest::Identity::from_pem` takes).
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalCa(..)")
    }
}

/// Makes a fresh CA and a server certificate for `names` (e.g. `localhost`, `127.0.0.1`).
pub fn make_local_ca(names: &[&str]) -> Result<LocalCa, TlsError> {
    make_local_ca_with_clients(names, &[])
}

/// As [`make_local_ca`], with a client certificate for each facility code of `facilities`.
pub fn make_local_ca_with_clients(
    names: &[&str],
    facilities: &[&str],
) -> Result<LocalCa, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_err = |e: rcgen::Error| TlsError::Ca(e.to_string());
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(ca_err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "onshi local CA (demo)");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(ca_err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(ca_err)?;
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut server = CertificateParams::new(names).map_err(ca_err)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "onshi local server");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(ca_err)?;
    let cert = server.signed_by(&key, &ca_cert, &ca_key).map_err(ca_err)?;
    let mut clients = Vec::new();
    for code in facilities {
        let mut p = CertificateParams::new(vec![facility_name(code)]).map_err(ca_err)?;
        p.distinguished_name.push(DnType::CommonName, *code);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let k = KeyPair::generate().map_err(ca_err)?;
        let c = p.signed_by(&k, &ca_cert, &ca_key).map_err(ca_err)?;
        clients.push(ClientCert {
            facility: code.to_string(),
            cert_pem: c.pem(),
            key_pem: k.serialize_pem(),
        });
    }
    Ok(LocalCa {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        clients,
    })
}

/// Where [`ensure_local_ca`] keeps its files.
#[derive(Debug, Clone)]
pub struct LocalCaFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A facility's client certificate (`client-<code>.pem`) and key (`client-<code>.key`) under
/// the local CA's folder.
pub fn client_files(dir: &Path, code: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("client-{code}.pem")),
        dir.join(format!("client-{code}.key")),
    )
}

/// The local CA under `dir` (`ca.pem`, `server.pem`, `server.key` mode 0600), made on first
/// use for `localhost` and `127.0.0.1`.
pub fn ensure_local_ca(dir: &Path) -> Result<LocalCaFiles, TlsError> {
    ensure_local_ca_with_clients(dir, &[])
}

/// As [`ensure_local_ca`], with a client certificate per facility of `facilities`
/// ([`client_files`], keys mode 0600); all are made again when one is missing.
pub fn ensure_local_ca_with_clients(
    dir: &Path,
    facilities: &[&str],
) -> Result<LocalCaFiles, TlsError> {
    let files = LocalCaFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    let clients_there = facilities.iter().all(|c| {
        let (cert, key) = client_files(dir, c);
        cert.exists() && key.exists()
    });
    if files.ca.exists() && files.cert.exists() && files.key.exists() && clients_there {
        return Ok(files);
    }
    let ca = make_local_ca_with_clients(&["localhost", "127.0.0.1"], facilities)?;
    let write = |p: &Path, b: &[u8]| {
        onshi_card::assertion::write_private(p, b).map_err(|e| TlsError::File {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    };
    write(&files.key, ca.key_pem.as_bytes())?;
    write(&files.cert, ca.cert_pem.as_bytes())?;
    for c in &ca.clients {
        let (cert, key) = client_files(dir, &c.facility);
        write(&key, c.key_pem.as_bytes())?;
        write(&cert, c.cert_pem.as_bytes())?;
    }
    write(&files.ca, ca.ca_pem.as_bytes())?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(plain_http_allowed("127.0.0.1:8470".parse().unwrap()));
        assert!(plain_http_allowed("[::1]:8470".parse().unwrap()));
        assert!(!plain_http_allowed("0.0.0.0:8470".parse().unwrap()));
        assert!(!plain_http_allowed("192.168.1.10:8470".parse().unwrap()));
    }

    #[test]
    fn plain_http_must_be_asked_for_and_stays_on_loopback() {
        let lo: SocketAddr = "127.0.0.1:8470".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8470".parse().unwrap();
        let none = ListenTls::default();
        assert!(
            none.choose(lo)
                .unwrap_err()
                .to_string()
                .contains("--tls-cert")
        );
        let plain = ListenTls {
            plain_http: true,
            ..ListenTls::default()
        };
        assert!(plain.choose(lo).unwrap().is_none());
        assert!(
            plain
                .choose(any)
                .unwrap_err()
                .to_string()
                .contains("loopback")
        );
    }

    #[test]
    fn bad_pem_is_a_clear_error() {
        let e = ServerTls::from_pem(b"not a certificate", b"nor a key").unwrap_err();
        assert!(e.to_string().contains("certificate"), "{e}");
    }

    #[tokio::test]
    async fn a_client_trusting_the_local_ca_talks_tls_and_one_that_does_not_is_refused() {
        let ca = make_local_ca(&["localhost", "127.0.0.1"]).unwrap();
        let tls = ServerTls::from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap();
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve(l, app, tls, std::future::pending()));
        let trusting = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        for host in ["127.0.0.1", "localhost"] {
            let r = trusting
                .get(format!("https://{host}:{}/healthz", addr.port()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.text().await.unwrap(), "ok");
        }
        let stranger = reqwest::Client::builder().use_rustls_tls().build().unwrap();
        assert!(
            stranger
                .get(format!("https://127.0.0.1:{}/healthz", addr.port()))
                .send()
                .await
                .is_err(),
            "a client without the CA must not connect"
        );
        assert!(
            reqwest::get(format!("http://127.0.0.1:{}/healthz", addr.port()))
                .await
                .is_err(),
            "no plain HTTP on a TLS port"
        );
    }

    #[tokio::test]
    async fn a_server_requiring_client_certificates_refuses_clients_without_or_with_foreign_ones() {
        let ca = make_local_ca_with_clients(&["127.0.0.1"], &["1311234567"]).unwrap();
        let foreign = make_local_ca_with_clients(&["127.0.0.1"], &["1311234567"]).unwrap();
        let tls = ServerTls::from_pem_requiring_clients(
            ca.cert_pem.as_bytes(),
            ca.key_pem.as_bytes(),
            ca.ca_pem.as_bytes(),
        )
        .unwrap();
        let app = axum::Router::new().route(
            "/who",
            axum::routing::get(|c: Option<axum::Extension<PeerCertificate>>| async move {
                match c {
                    Some(axum::Extension(c)) => format!(
                        "{} {}",
                        c.is_for_facility("1311234567"),
                        c.is_for_facility("1341234567")
                    ),
                    None => "none".into(),
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://127.0.0.1:{}/who", l.local_addr().unwrap().port());
        tokio::spawn(serve(l, app, tls, std::future::pending()));
        let client = |identity: Option<&ClientCert>| {
            let mut b = reqwest::Client::builder()
                .use_rustls_tls()
                .add_root_certificate(
                    reqwest::Certificate::from_pem(ca.ca_pem.as_bytes()).unwrap(),
                );
            if let Some(c) = identity {
                b = b.identity(reqwest::Identity::from_pem(c.identity_pem().as_bytes()).unwrap());
            }
            b.build().unwrap()
        };
        let ok = client(Some(&ca.clients[0])).get(&url).send().await.unwrap();
        assert_eq!(
            ok.text().await.unwrap(),
            "true false",
            "the clinic's certificate"
        );
        let without = client(None).get(&url).send().await;
        let refused = match without {
            Err(_) => true,
            Ok(r) => r.text().await.is_err(),
        };
        assert!(refused, "no client certificate: no answer");
        let stranger = client(Some(&foreign.clients[0])).get(&url).send().await;
        let refused = match stranger {
            Err(_) => true,
            Ok(r) => r.text().await.is_err(),
        };
        assert!(refused, "a certificate of another CA: no answer");
    }
}
