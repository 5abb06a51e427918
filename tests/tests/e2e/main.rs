//! kubesim end to end, driven by real clients (kubectl, helm, the Python client, kube-rs)
//! against `kubesim up`: one test binary, one module per subject, so that CI links it once.

mod bench_smoke;
mod controllers_manager;
mod controllers_podgc;
mod controllers_support;
mod deployment;
mod gc;
mod helm;
mod kube_rs;
mod kubectl;
mod kubectl_apply;
mod kubectl_get;
mod kubectl_openapi;
mod kubectl_server_side_apply;
mod kubectl_workflow;
mod kubelet;
mod nodes;
mod python_client;
mod readme_curl;
mod self_healing;
mod services;
mod walkthrough;
