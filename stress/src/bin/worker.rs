//! `shmring-stress-worker`: the child processes of the stress loops
//! (producer, consumer, fresh client, daemon). Not meant to be run by hand.

fn main() {
    shmring_stress::worker_cli::run(std::env::args_os())
}
