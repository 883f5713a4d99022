//! Checks that `workspace-hack` names every dependency it must: that each step, built alone
//! the way `cargo run -p <step>` and `cargo test -p <step>` build it, asks for exactly the
//! dependency features `cargo test --workspace` compiled, so it recompiles nothing.
//!
//! It asks cargo itself: `cargo tree` prints every package of a build with its features, for
//! the whole workspace or for one package. Run it with `cargo test -p workspace-hack`.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    sync::mpsc,
    thread,
    time::Duration,
};

/// How long one `cargo tree` may take (it reads `Cargo.lock` and the manifests: well under a
/// second on a quiet machine).
const CARGO_TREE_DEADLINE: Duration = Duration::from_secs(60);

/// Which dependency kinds a build includes: `cargo run` and `cargo build` leave out
/// dev-dependencies, `cargo test` (like `cargo test --workspace`) takes them in.
#[derive(Clone, Copy, Debug)]
enum Build {
    Run,
    Test,
}

impl Build {
    fn edges(self) -> &'static str {
        match self {
            Build::Run => "normal,build",
            Build::Test => "normal,build,dev",
        }
    }
}

/// Every step, built alone as `cargo run` or as `cargo test`, uses each dependency with the
/// same features as the workspace build: nothing is compiled a second time.
#[test]
fn every_step_alone_asks_for_the_workspace_features() {
    // Arrange
    let root = workspace_root();
    let workspace = package_features(&root, &["--workspace"], Build::Test);
    let steps = step_names(&root);
    assert!(steps.len() >= 8, "found only these steps: {steps:?}");

    // Act
    let mut differences = Vec::new();
    for step in &steps {
        for build in [Build::Run, Build::Test] {
            let alone = package_features(&root, &["-p", step], build);
            for line in alone.difference(&workspace) {
                differences.push(format!("{build:?} {step}: {line}"));
            }
        }
    }

    // Assert
    assert!(
        differences.is_empty(),
        "these packages get other features when a step is built alone, so building it would \
         recompile them; add each to workspace-hack/Cargo.toml with the workspace's features \
         (`cargo tree --workspace -e normal,build,dev -f '{{p}} {{f}}'` shows them):\n{}",
        differences.join("\n")
    );
}

fn workspace_root() -> PathBuf {
    // This crate lives at `<root>/workspace-hack`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace-hack sits inside the workspace root")
        .to_path_buf()
}

/// The package names of `steps/*`, read from the folders.
fn step_names(root: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(root.join("steps")).expect("the steps folder is readable");
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `package vX.Y.Z|feature,feature` for every package in the build `selection` would make.
fn package_features(root: &Path, selection: &[&str], build: Build) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["tree", "--offline", "--prefix", "none", "-f", "{p}|{f}"])
        .args(["-e", build.edges()])
        .args(selection);
    let stdout = run_with_deadline(command);
    stdout.lines().map(normalised).collect()
}

/// One `cargo tree` line without what differs between selections but not between builds:
/// the `(*)` of a package already shown, `(proc-macro)`, and a local crate's path.
fn normalised(line: &str) -> String {
    let (package, features) = line.split_once('|').unwrap_or((line, ""));
    let package = package.replace(" (*)", "").replace(" (proc-macro)", "");
    let package = match package.find(" (/") {
        Some(path_start) => &package[..path_start],
        None => &package,
    };
    format!("{package}|{features}")
}

/// Runs `command` in a thread and waits for it at most [`CARGO_TREE_DEADLINE`].
fn run_with_deadline(mut command: Command) -> String {
    let description = format!("{command:?}");
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        // If the test has already given up, nobody is listening any more.
        let _ = done.send(command.output());
    });
    let output = finished
        .recv_timeout(CARGO_TREE_DEADLINE)
        .unwrap_or_else(|_| panic!("{description} did not finish within {CARGO_TREE_DEADLINE:?}"))
        .unwrap_or_else(|error| panic!("{description} could not start: {error}"));
    assert!(
        output.status.success(),
        "{description} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo tree prints UTF-8")
}
