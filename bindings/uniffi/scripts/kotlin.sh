# Sourced by test.sh and bench.sh (bash, `set -euo pipefail`, run from the repository root):
# generates the Kotlin and Swift sources from a built cdylib and compiles the Kotlin sources with
# bindings/uniffi/tests/kotlin/*.kt into a jar.
#
#   kotlin_build LIB BINDGEN WORKDIR   # sets KOTLIN_JAR and KOTLIN_RUNTIME_CP
#
# The Kotlin compiler, kotlinx-coroutines and JNA come from Maven Central (maven-fetch.sh); a JVM
# is installed from Debian if none is there. The jar is cached under $CARGO_TARGET_DIR by the
# hash of its sources, so an unchanged binding and unchanged tests skip the compiler.

_join() { local IFS=:; echo "$*"; }

kotlin_build() {
  local lib="$1" bindgen="$2" work="$3"
  local language generated
  if ! command -v java >/dev/null; then
    echo "installing a JVM (openjdk-17-jre-headless)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends openjdk-17-jre-headless >&2 \
      || { apt-get update >&2 && apt-get install -y --no-install-recommends openjdk-17-jre-headless >&2; }
  fi
  step "generate Kotlin and Swift sources (library mode) from $(basename "$lib")"
  for language in kotlin swift; do
    "$bindgen" generate --no-format --library "$lib" --language "$language" \
      --out-dir "$work/generated/$language"
  done
  local source="$work/generated/kotlin/io/vehicleops/vehicleops_uniffi.kt"
  for generated in "$source" "$work/generated/swift/VehicleOps.swift" \
    "$work/generated/swift/VehicleOpsFFI.h" "$work/generated/swift/VehicleOpsFFI.modulemap"; do
    [ -s "$generated" ] || { echo "missing or empty: $generated" >&2; return 1; }
    echo "    $(wc -l <"$generated") lines  ${generated#"$work/generated/"}"
  done

  step "Kotlin compiler, kotlinx-coroutines and JNA from Maven Central"
  local fetch="bindings/uniffi/scripts/maven-fetch.sh" compiler runtime
  mapfile -t compiler < <(bash "$fetch" \
    org.jetbrains.kotlin:kotlin-compiler-embeddable:2.4.21 \
    org.jetbrains.kotlin:kotlin-stdlib:2.4.21 \
    org.jetbrains.kotlin:kotlin-script-runtime:2.4.21 \
    org.jetbrains.kotlin:kotlin-reflect:1.6.10 \
    org.jetbrains.kotlin:kotlin-daemon-embeddable:2.4.21 \
    org.jetbrains.kotlin:kotlin-build-tools-api:2.4.21 \
    org.jetbrains.kotlinx:kotlinx-coroutines-core-jvm:1.11.0 \
    org.jetbrains:annotations:13.0)
  mapfile -t runtime < <(bash "$fetch" \
    org.jetbrains.kotlin:kotlin-stdlib:2.4.21 \
    org.jetbrains.kotlinx:kotlinx-coroutines-core-jvm:1.11.0 \
    net.java.dev.jna:jna:5.19.1)
  # mapfile does not see a failed download inside <( ): check that every jar arrived.
  [ "${#compiler[@]}" -eq 8 ] && [ "${#runtime[@]}" -eq 3 ] || { echo "jar download failed" >&2; return 1; }
  KOTLIN_RUNTIME_CP="$(_join "${runtime[@]}")"

  step "compile the generated Kotlin and the Kotlin tests"
  local tests=(bindings/uniffi/tests/kotlin/*.kt) hash
  hash="$(cat "$source" "${tests[@]}" | sha1sum | cut -c1-16)"
  KOTLIN_JAR="$CARGO_TARGET_DIR/uniffi-kotlin/tests-$hash.jar"
  if [ -s "$KOTLIN_JAR" ]; then
    echo "    unchanged sources: $KOTLIN_JAR"
    return 0
  fi
  mkdir -p "$(dirname "$KOTLIN_JAR")"
  java -cp "$(_join "${compiler[@]}")" org.jetbrains.kotlin.cli.jvm.K2JVMCompiler \
    -no-stdlib -no-reflect -jvm-target 17 -nowarn \
    -classpath "$KOTLIN_RUNTIME_CP" -d "$KOTLIN_JAR.part" "$source" "${tests[@]}"
  mv "$KOTLIN_JAR.part" "$KOTLIN_JAR"
}
