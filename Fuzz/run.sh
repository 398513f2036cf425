#!/usr/bin/env bash
# `make fuzz`: builds each libFuzzer target (swiftc -sanitize=fuzzer,address) from ForgeCore's
# sources plus one entry file, seeds a corpus from Tests/Fixtures, and runs each target for
# FUZZ_SECONDS (default 60). Any crash, hang (-timeout) or sanitizer report fails the run;
# libFuzzer leaves the input as fuzz-out/TARGET/crash-* to be kept as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-procfile dotenv formation control lines}"
out=fuzz-out
mkdir -p "$out"
python3 Fuzz/seed.py "$out/corpus"
sources=$(find Sources/ForgeCore -name '*.swift' | sort)
status=0
for target in $targets; do
  case "$target" in
    procfile) entry=Fuzz/ProcfileFuzz.swift ;;
    dotenv) entry=Fuzz/DotEnvFuzz.swift ;;
    formation) entry=Fuzz/FormationFuzz.swift ;;
    control) entry=Fuzz/ControlFuzz.swift ;;
    lines) entry=Fuzz/LinesFuzz.swift ;;
    *) echo "unknown fuzz target $target" >&2; exit 2 ;;
  esac
  echo "== $target: building"
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name ForgeFuzz \
    -Xcc -D_GNU_SOURCE -I Sources/CGlibcLinux $sources "$entry" -o "$out/$target" 2>&1 \
    | { grep -v "Cannot export local symbol" || true; }
  mkdir -p "$out/$target-corpus" "$out/$target-artifacts"
  echo "== $target: fuzzing for ${seconds}s"
  if ! "./$out/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$out/$target-artifacts/" "$out/$target-corpus" "$out/corpus/$target" \
      > "$out/$target.log" 2>&1; then
    echo "!! $target: failure, see $out/$target.log and $out/$target-artifacts/" >&2
    tail -30 "$out/$target.log" >&2
    status=1
  else
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$out/$target.log" | tail -1 || true
  fi
done
exit $status
