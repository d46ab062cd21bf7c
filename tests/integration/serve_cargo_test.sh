#!/usr/bin/env bash
# `tierun serve -j2 -- cargo build --offline` of a generated workspace of 8
# dependency-free crates whose build.rs runs the probe. cargo is a real
# jobserver client: it runs a build script only on a token (or its implicit
# slot), so at most 2 probes run at once -- in the pipe and the fifo style.
source "$(dirname "$0")/lib.sh"

command -v cargo >/dev/null || PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null || fail "cargo is not installed"

members=""
for i in 1 2 3 4 5 6 7 8; do
  mkdir -p "crate$i/src"
  printf '[package]\nname = "crate%s"\nversion = "0.1.0"\nedition = "2021"\nbuild = "build.rs"\n' \
    "$i" >"crate$i/Cargo.toml"
  echo "pub fn id() -> u32 { $i }" >"crate$i/src/lib.rs"
  cat >"crate$i/build.rs" <<RUST
fn main() {
    let status = std::process::Command::new(env!("TIERUN_TEST_PROBE"))
        .args(["--log", env!("TIERUN_TEST_LOG"), "--id", "crate$i", "--hold-ms", "300"])
        .status()
        .expect("run the probe");
    assert!(status.success());
}
RUST
  members+="\"crate$i\", "
done
printf '[workspace]\nmembers = [%s]\nresolver = "2"\n' "$members" >Cargo.toml

export CARGO_HOME="$WORK/cargo-home" CARGO_TARGET_DIR="$WORK/target"
export TIERUN_TEST_PROBE="$PROBE" TIERUN_TEST_LOG="$WORK/log"
for style in pipe fifo; do
  rm -rf log "$CARGO_TARGET_DIR"
  timeout 300 "$TIERUN" serve -j2 --style "$style" --audit -- cargo build --offline -q 2>err ||
    fail "cargo build under serve --style $style failed: $(cat err)"
  expect_clean_audit err 2
  verify log 2 8
done
echo "ok: 8 build scripts under tierun serve -j2, pipe and fifo"
