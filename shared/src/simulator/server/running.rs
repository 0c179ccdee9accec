//! The simulator served on a TCP address, with a graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::super::SimulatorConfig;
use super::control::SimulatorControl;
use super::routes::router;

/// A simulator serving on a TCP address until [`RunningSimulator::shutdown`] (or drop).
#[derive(Debug)]
pub struct RunningSimulator {
    addr: SocketAddr,
    control: SimulatorControl,
    task: Option<JoinHandle<()>>,
}

impl RunningSimulator {
    /// Serves `config` on `127.0.0.1` at a free port.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Self> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves `config` on `addr` (port 0: a free port).
    pub async fn start_on(config: SimulatorConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (router, control) = router(config);
        let mut stop = control.shared.shutdown.subscribe();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|&down| down).await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulator server stopped");
            }
        });
        Ok(Self {
            addr,
            control,
            task: Some(task),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The control handle (date, faults, stats).
    pub fn control(&self) -> &SimulatorControl {
        &self.control
    }

    /// Stops accepting, ends hanging requests, and waits (at most 2 s) for open requests.
    pub async fn shutdown(mut self) {
        self.control.shared.shutdown.send_replace(true);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for RunningSimulator {
    fn drop(&mut self) {
        self.control.shared.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
