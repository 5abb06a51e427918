//! Simulated kubelets: many nodes in one process that register, heartbeat and drive pods. (Issue 5.)
