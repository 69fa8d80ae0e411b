#!/usr/bin/env bash
# The Debian package, as a user gets it: CPack builds it from this build folder, dpkg-deb unpacks it
# into a scratch root, and the programs run from there (not from the build tree): --version, a
# built-in generation on a bundled demo product, the studio's window under Xvfb. Then lintian
# (no errors), the AppStream and desktop-entry validators, and the package's metadata.
#
#   package_test.sh BUILD_DIR KEEP_DIR VERSION  (VERSION: CMake's project version)
# The package is unpacked and run outside the build tree (a program inside it reads the source
# tree's resources); the .deb, logs and the studio's screenshot are kept in KEEP_DIR.
# Prints the file list, Depends, and the validators' output (the closing notes quote them).
set -euo pipefail
build="$1" keep="$2" project_version="$3"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/caig-package-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
rm -rf "$keep"
mkdir -p "$keep"
fail() { echo "package_test: FAIL: $*" >&2; cp -r "$scratch"/*.log "$keep"/ 2>/dev/null || true; exit 1; }
for tool in cpack dpkg-deb lintian appstreamcli desktop-file-validate xvfb-run; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (bash packaging/setup-deps.sh)"
done
# Nothing of the developer's environment may point back into the tree.
unset CAIG_RESOURCE_DIR CAIG_ISNET_DIR
export HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/home/.config" XDG_DATA_HOME="$scratch/home/.local/share"
mkdir -p "$HOME"

echo "== cpack"
(cd "$build" && cpack -G DEB -B "$keep/deb" >"$scratch/cpack.log" 2>&1) || { cat "$scratch/cpack.log"; fail "cpack"; }
deb=$(ls "$keep"/deb/caig-studio_*.deb)
echo "$deb ($(du -h "$deb" | cut -f1))"

echo "== control"
dpkg-deb -f "$deb" Package Version Architecture Section Depends Installed-Size
depends=$(dpkg-deb -f "$deb" Depends)
for need in libtorch libopenblas0-openmp qt6-qpa-plugins libqt6widgets6 libopencv-imgcodecs libsqlite3; do
  grep -q "$need" <<<"$depends" || fail "Depends lacks $need: $depends"
done

echo "== files"
dpkg-deb -c "$deb" | awk '{print $6}' | grep -v '/$' | grep -v '^./usr/share/caig-studio/' || true
echo "   + $(dpkg-deb -c "$deb" | grep -c ' ./usr/share/caig-studio/.*[^/]$') data files under /usr/share/caig-studio"
root="$scratch/root"
dpkg-deb -x "$deb" "$root"
for f in usr/bin/caig usr/bin/caig-studio usr/share/caig-studio/styles/styles.json usr/share/caig-studio/demo/mug.png \
         usr/share/applications/io.github.caigstudio.CaigStudio.desktop \
         usr/share/metainfo/io.github.caigstudio.CaigStudio.metainfo.xml \
         usr/share/icons/hicolor/scalable/apps/caig-studio.svg usr/share/man/man1/caig.1.gz \
         usr/share/doc/caig-studio/copyright usr/share/doc/caig-studio/changelog.gz; do
  [ -e "$root/$f" ] || fail "the package has no /$f"
done

echo "== run from the unpacked root"
caig="$root/usr/bin/caig"
version=$("$caig" --version)
echo "$version"
grep -q "^caig $project_version" <<<"$version" \
  || fail "--version says '$version'"
paths=$("$caig" paths)
echo "$paths"
grep -q "^resources  $root/usr/share/caig-studio\$" <<<"$paths" || fail "resources not read from the package: $paths"
"$caig" generate "$root/usr/share/caig-studio/demo/mug.png" --title "Teal Mug" -n 2 --seed 3 \
  --project "$scratch/project" >"$scratch/generate.log" 2>&1 || { cat "$scratch/generate.log"; fail "caig generate"; }
tail -n 3 "$scratch/generate.log"
"$caig" project info "$scratch/project" | tee "$scratch/info.log"
grep -q "2 variants" "$scratch/info.log" || fail "the generated project has no 2 variants"
grep -q "created with CAIG Studio ${version#caig }" "$scratch/info.log" || fail "the store does not record the version"
xvfb-run -a -s "-screen 0 1400x900x24" "$root/usr/bin/caig-studio" --project "$scratch/project" \
  --screenshot "$scratch/studio.png" >"$scratch/studio.log" 2>&1 || { cat "$scratch/studio.log"; fail "caig-studio --screenshot"; }
[ "$(stat -c %s "$scratch/studio.png")" -gt 20000 ] || fail "the screenshot is (nearly) empty"
cp "$scratch/studio.png" "$keep/studio.png"
echo "studio window: $keep/studio.png"

echo "== lintian"
# Errors fail; warnings are printed for the record.
lintian --fail-on error --tag-display-limit 0 "$deb" | tee "$scratch/lintian.log" || fail "lintian reports errors"
echo "lintian: $(grep -c '^E:' "$scratch/lintian.log" || true) errors, $(grep -c '^W:' "$scratch/lintian.log" || true) warnings"

echo "== appstream, desktop entry"
appstreamcli validate --no-net "$root/usr/share/metainfo/io.github.caigstudio.CaigStudio.metainfo.xml" || fail "appstreamcli"
desktop-file-validate "$root/usr/share/applications/io.github.caigstudio.CaigStudio.desktop" || fail "desktop-file-validate"
echo "package_test: OK"
