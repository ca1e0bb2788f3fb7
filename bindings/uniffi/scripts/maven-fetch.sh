#!/usr/bin/env bash
# Downloads jars from Maven Central into a cache and checks each against the .sha1 file Maven
# Central serves beside it; prints the path of each jar, one a line.
#
#   bash bindings/uniffi/scripts/maven-fetch.sh group:artifact:version ...
#
# Cache: VEHICLEOPS_MAVEN_CACHE (default ~/.cache/vehicleops/maven), laid out like a Maven
# repository. A cached jar whose checksum no longer matches is fetched again.
set -euo pipefail
CACHE="${VEHICLEOPS_MAVEN_CACHE:-$HOME/.cache/vehicleops/maven}"
CENTRAL="https://repo1.maven.org/maven2"

for coordinate in "$@"; do
  IFS=: read -r group artifact version <<<"$coordinate"
  rel="${group//.//}/$artifact/$version/$artifact-$version.jar"
  jar="$CACHE/$rel"
  mkdir -p "$(dirname "$jar")"
  if [ ! -s "$jar.sha1" ]; then
    curl -fsSL --retry 3 -o "$jar.sha1.part" "$CENTRAL/$rel.sha1"
    mv "$jar.sha1.part" "$jar.sha1"
  fi
  # The .sha1 holds the hex digest, sometimes followed by the file name.
  want="$(cut -c1-40 "$jar.sha1")"
  if [ ! -s "$jar" ] || [ "$(sha1sum "$jar" | cut -c1-40)" != "$want" ]; then
    curl -fsSL --retry 3 -o "$jar.part" "$CENTRAL/$rel"
    got="$(sha1sum "$jar.part" | cut -c1-40)"
    if [ "$got" != "$want" ]; then
      rm -f "$jar.part"
      echo "checksum mismatch for $coordinate: got $got, Maven Central says $want" >&2
      exit 1
    fi
    mv "$jar.part" "$jar"
  fi
  echo "$jar"
done
