//! `-v` for the Kubernetes API: a tower layer under bbgate's kube client that says each request's method and
//! path, its status and its time (never a header: the bearer token travels there).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The service `Said` wraps, saying each call once it is answered.
#[derive(Clone)]
pub(crate) struct Said<S>(pub(crate) S);

impl<S, B, R> tower::Service<http::Request<B>> for Said<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        // The path only: a query may name a label selector, never a credential, but is left out all the same.
        let what = format!("{} {}", req.method(), req.uri().path());
        let started = std::time::Instant::now();
        let answer = self.0.call(req);
        Box::pin(async move {
            let out = answer.await;
            let status = match &out {
                Ok(r) => r.status().as_u16().to_string(),
                Err(e) => format!("failed ({e})"),
            };
            crate::output::log(
                "kubernetes",
                format!("{what} -> {status} in {} ms", started.elapsed().as_millis()),
            );
            out
        })
    }
}
