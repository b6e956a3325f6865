#!/usr/bin/env bash
# Runs the JMH benchmarks (jnorm vs libtorch: normalization layers, GEMM, a training step of the demo CNN, convolution
# blocks and a ResNet-18 forward; plus the copy ceiling) and writes BENCHMARKS.md at the repository root.
#
#   bench/run.sh                 the full suite, twice (about 2 x 53 minutes: copy 0.5, normalization 30,
#                                GemmBench 2, TrainStepBench + TrainStepNormsBench 6, ResNetStepBench 2,
#                                FusionBench under 1, ConvBench 11, ResNet18Bench 2): -f 1 -wi 3 -w 500ms -i 5
#                                -r 1s, one JMH invocation per normalization case (all its implementations and
#                                thread counts back to back), each into bench/target/parts/rNNN-*.json; the rows
#                                a ratio compares are reported from one round, the one where they were fastest
#                                together. JNORM_BENCH_ROUNDS=n: n rounds instead of 2 (ignored with JMH-ARGS);
#                                JNORM_BENCH_ITERATIONS='-wi 2 -w 300ms -i 3 -r 500ms': other iteration settings.
#                                ConvBench and ResNet18Bench run one invocation per convolution case, with fewer,
#                                longer iterations (a call takes up to seconds): -wi 1 -w 1s -i 3 -r 1s, or
#                                JNORM_BENCH_CONV_ITERATIONS='...'; each fork spends seconds more in its set-up
#                                (building the model; the libtorch forks check it against jnorm's first)
#   bench/run.sh JMH-ARGS...     your JMH arguments instead of those defaults, e.g. a quick look at one case:
#                                bench/run.sh -wi 1 -w 200ms -i 1 -r 500ms -p op=ln_4096x1024 -p threads=1 '\.NormBench\.'
#                                or one family: ... 'GemmBench', ... 'TrainStep' (both step benchmarks); one
#                                convolution row: ... -p conv=block64 -p threads=1 'ConvBench.jnormTrain'
#                                (conv: block64 block128 stem proj dwblock; methods jnormTrain torchTrain
#                                jnormEval torchEval), or ... 'ResNet18Bench'
#
# Always added: -foe true (a failing benchmark stops the run), -prof gc (allocation per call) and -rf json; the
# results end up in bench/target/jmh-result.json (the full suite's rounds joined there in run order), the JMH log
# in bench/target/jmh.log too. JNORM_BENCH_OUT=path writes the report elsewhere (default: BENCHMARKS.md at the root).
# JNORM_BENCH_MERGE=a.json[,b.json...] merges earlier results into the report, this run's rows replacing theirs: to
# redo one family, keep the full run's result first (cp bench/target/jmh-result.json /tmp/full.json), then
# JNORM_BENCH_MERGE=/tmp/full.json bench/run.sh 'GemmBench'. Paths must not contain commas.
# Finds a JDK >= 25 as ./jnorm does ($JNORM_JAVA, $JAVA_HOME, `java` on PATH, then /usr/lib/jvm and /opt); the default
# `java` may be older. Builds bench/target/benchmarks.jar (mvn -Pbench) when it is missing or older than the sources.
# Run it on a quiet machine: every other busy process shows up in the numbers.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

java_major() {
  "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}' | cut -d. -f1
}

find_java() {
  local c major
  for c in "${JNORM_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" \
           /usr/lib/jvm/*/bin/java /opt/*/bin/java /opt/java/*/bin/java; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    major=$(java_major "$c" || true)
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

java=$(find_java) || { echo "bench/run.sh: no JDK 25 or newer found; install one or set JNORM_JAVA" >&2; exit 1; }
jar="$here/target/benchmarks.jar"
# bench depends on core and, for the demo CNN, on cli
if [ ! -f "$jar" ] || [ -n "$(find "$root/core/src/main" "$root/cli/src/main" "$here/src/main" "$root/pom.xml" \
      "$root/core/pom.xml" "$root/cli/pom.xml" "$here/pom.xml" -newer "$jar" -print -quit)" ]; then
  echo "bench/run.sh: building $jar (mvn -Pbench package) ..." >&2
  (cd "$root" && mvn -q -B -DskipTests -Pbench -pl bench -am package) >&2
fi

result="$here/target/jmh-result.json"
out="${JNORM_BENCH_OUT:-$root/BENCHMARKS.md}"
inputs="$result"
if [ -n "${JNORM_BENCH_MERGE:-}" ]; then
  IFS=',' read -r -a merge <<< "$JNORM_BENCH_MERGE"
  for f in "${merge[@]}"; do
    # checked before the run: a missing file would only show after it, and this run replaces $result
    [ -s "$f" ] || { echo "bench/run.sh: JNORM_BENCH_MERGE: no result file '$f'" >&2; exit 1; }
    if [ "$(realpath "$f")" = "$(realpath -m "$result")" ]; then
      echo "bench/run.sh: JNORM_BENCH_MERGE: this run overwrites '$f'; copy it elsewhere first" >&2
      exit 1
    fi
  done
  inputs="$JNORM_BENCH_MERGE,$result"
fi
jvm=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)

# libtorch at its best allocator setting: glibc malloc returns tensors this large to the OS on free, so every call
# page-faults its outputs in again; jemalloc that never decays dirty pages reuses them (NormBench's torchFwd rows of
# ln_8192x4096 show the difference). Used when installed (Debian: apt-get install libjemalloc2), unless
# JNORM_BENCH_ALLOCATOR=glibc. The forked JVMs inherit it; it does not touch the Java heap jnorm allocates from.
jemalloc=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/libjemalloc.so.2 2>/dev/null | head -n 1 || true)
if [ -n "$jemalloc" ] && [ "${JNORM_BENCH_ALLOCATOR:-jemalloc}" != glibc ]; then
  export LD_PRELOAD="$jemalloc${LD_PRELOAD:+:$LD_PRELOAD}"
  export MALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1,retain:true"
  export JNORM_BENCH_ALLOCATOR_NOTE="jemalloc ($jemalloc, MALLOC_CONF=$MALLOC_CONF)"
else
  export JNORM_BENCH_ALLOCATOR_NOTE="glibc malloc (default settings)"
fi

log="$here/target/jmh.log"
rm -f "$result" "$log"

# one JMH invocation: jmh OUT.json JMH-ARGS...
jmh() {
  local json=$1
  shift
  "$java" "${jvm[@]}" -jar "$jar" "$@" -foe true -prof gc -rf json -rff "$json" 2>&1 | tee -a "$log"
  [ -s "$json" ] || { echo "bench/run.sh: JMH wrote no result ($json)" >&2; exit 1; }
}

if [ $# -gt 0 ]; then
  jmh "$result" "$@"
else
  # NB: JMH runs benchmark by benchmark, each over all its parameters, so one invocation of everything would time
  # jnorm's rows of a case ten minutes apart from libtorch's, and a shared or virtual machine's speed drifts in phases
  # of seconds to minutes (most for the compute-bound GEMM). So: one invocation per case, which keeps a case's
  # rows within two minutes of each other, and the whole suite $JNORM_BENCH_ROUNDS times (default 2); the report
  # takes the rows a ratio compares from one round, the one where they were fastest together (interference only
  # ever slows a row down), and gives each round's copy ceiling.
  rounds=${JNORM_BENCH_ROUNDS:-2}
  [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench/run.sh: JNORM_BENCH_ROUNDS must be a positive integer, got '$rounds'" >&2; exit 1; }
  # JNORM_BENCH_ITERATIONS="-wi 2 -w 300ms -i 3 -r 500ms" replaces the iteration settings (a shorter run; the report
  # names the command, so it shows)
  read -r -a iterations <<< "${JNORM_BENCH_ITERATIONS:--wi 3 -w 500ms -i 5 -r 1s}"
  defaults=(-f 1 "${iterations[@]}")
  parts="$here/target/parts"
  rm -rf "$parts"
  mkdir -p "$parts"
  read -r -a conv_iterations <<< "${JNORM_BENCH_CONV_ITERATIONS:--wi 1 -w 1s -i 3 -r 1s}"
  # the values of parameter $2 of the benchmark method matching regex $1, space-separated (java -jar ... -lp)
  param_values() {
    "$java" "${jvm[@]}" -jar "$jar" -lp "$1" 2>>"$log" \
        | sed -n "s/^ *param \"$2\" = {\(.*\)}\$/\1/p" | tr -d ' ' | tr ',' ' ' || true
  }
  ops=$(param_values '\.NormBench\.jnormFwd$' op)
  [ -n "$ops" ] || { echo "bench/run.sh: could not list NormBench's cases (java -jar $jar -lp)" >&2; exit 1; }
  convs=$(param_values '\.ConvBench\.jnormTrain$' conv)
  [ -n "$convs" ] || { echo "bench/run.sh: could not list ConvBench's cases (java -jar $jar -lp)" >&2; exit 1; }
  for round in $(seq 1 "$rounds"); do
    r=$(printf 'r%03d' "$round")
    jmh "$parts/$r-00-copy.json" "${defaults[@]}" 'CopyBench'
    jmh "$parts/$r-01-peak.json" "${defaults[@]}" 'FmaPeakBench'
    i=10
    for op in $ops; do
      jmh "$parts/$r-$i-$op.json" "${defaults[@]}" -p "op=$op" '\.NormBench\.'
      i=$((i + 1))
    done
    jmh "$parts/$r-90-gemm.json" "${defaults[@]}" 'GemmBench'
    jmh "$parts/$r-91-step.json" "${defaults[@]}" 'TrainStep'
    jmh "$parts/$r-92-resnet.json" "${defaults[@]}" 'ResNetStepBench'
    jmh "$parts/$r-93-fusion.json" "${defaults[@]}" 'FusionBench'
    for conv in $convs; do
      jmh "$parts/$r-94-conv-$conv.json" -f 1 "${conv_iterations[@]}" -p "conv=$conv" '\.ConvBench\.'
    done
    jmh "$parts/$r-95-resnet18.json" -f 1 "${conv_iterations[@]}" '\.ResNet18Bench\.'
  done
  # the parts' JSON arrays as one, in run order: JMH writes the outer "[" and "]" on lines of their own at column 0,
  # then blank lines; every line inside is indented (Report's parser rejects anything else)
  {
    echo "["
    sep=""
    for f in "$parts"/*.json; do
      body=$(sed -e '/^\[$/d' -e '/^\]$/d' -e '/^$/d' "$f")
      [ -n "$body" ] || { echo "bench/run.sh: $f holds no results" >&2; exit 1; }
      [ -n "$sep" ] && echo "$sep"
      echo "$body"
      sep=","
    done
    echo "]"
  } > "$result"
fi

# the command line the report names (arguments single-quoted when the shell needs it)
cmd="bench/run.sh"
if [ $# -eq 0 ] && [ "${JNORM_BENCH_ROUNDS:-2}" != 2 ]; then
  cmd="JNORM_BENCH_ROUNDS=$JNORM_BENCH_ROUNDS $cmd"
fi
if [ $# -eq 0 ] && [ -n "${JNORM_BENCH_ITERATIONS:-}" ]; then
  cmd="JNORM_BENCH_ITERATIONS='$JNORM_BENCH_ITERATIONS' $cmd"
fi
if [ $# -eq 0 ] && [ -n "${JNORM_BENCH_CONV_ITERATIONS:-}" ]; then
  cmd="JNORM_BENCH_CONV_ITERATIONS='$JNORM_BENCH_CONV_ITERATIONS' $cmd"
fi
for a in "$@"; do
  if [[ "$a" =~ ^[A-Za-z0-9_./=:,+@%-]+$ ]]; then
    cmd+=" $a"
  else
    cmd+=" '${a//\'/\'\\\'\'}'"
  fi
done
"$java" "${jvm[@]}" -cp "$jar" dev.jnorm.bench.Report "$inputs" "$out" "$cmd"
