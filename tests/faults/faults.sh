#!/usr/bin/env bash
# Fault injection on the real `caig` binary: concurrent writers, kill -9 mid-write, a full disk,
# a read-only mount, pipes where files belong, refused files that must stay byte-identical, text
# that is not UTF-8. Each case prints "ok: ..." or "FAIL: ..."; the exit status is 1 when any
# failed. The full-disk and read-only cases need root and tmpfs/bind mounts (CI has both); where
# they are not available they print "skipped: ..." and the script exits 77 (CTest: skipped) if
# nothing failed, so a machine without them never reports them as passing.
#   tests/faults/faults.sh path/to/caig scratch-dir
set -u
CAIG=$(realpath "$1")
DEMO=$(dirname "$(dirname "$(dirname "$(realpath "$0")")")")/resources/demo
W=$2
umount "$W/small" "$W/ro" 2>/dev/null  # left by an interrupted run
trap 'cd /; umount "$W/small" "$W/ro" 2>/dev/null' EXIT
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
status=0
skipped=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; status=1; }
skip() { echo "skipped: $*"; skipped=1; }
rows() { sqlite3 "$1/project.caig" "$2"; }

# The store is consistent: SQLite's integrity check, and every image a row names exists.
consistent() {
  local p=$1 what=$2 check missing=0 f
  check=$(sqlite3 "$p/project.caig" "PRAGMA integrity_check" 2>&1)
  [ "$check" = ok ] || { bad "$what: integrity_check says: $check"; return; }
  while IFS= read -r f; do
    [ -z "$f" ] || [ -e "$p/$f" ] || { missing=$((missing + 1)); echo "  missing $f"; }
  done < <(sqlite3 "$p/project.caig" "SELECT image_path FROM variants UNION ALL SELECT image_path FROM products")
  [ "$missing" -eq 0 ] && ok "$what: store consistent" || bad "$what: $missing image(s) named by the store are missing"
}

# No file in variants/ or clicks/ that no row names (a failed save must take its files back).
no_orphans() {
  local p=$1 what=$2 named orphans=0 f
  named=$(sqlite3 "$p/project.caig" "SELECT image_path FROM variants UNION SELECT image_path FROM click_records UNION SELECT alpha_path FROM click_records")
  for f in "$p"/variants/* "$p"/clicks/*; do
    [ -e "$f" ] || continue
    grep -qxF "${f#"$p"/}" <<<"$named" || { orphans=$((orphans + 1)); echo "  orphan ${f#"$p"/}"; }
  done
  [ "$orphans" -eq 0 ] && ok "$what: no orphaned files" || bad "$what: $orphans file(s) no row names"
}

# ---- concurrent writers: two imports and a generate at once, every row kept -----------------
"$CAIG" demo-clicks demo --products 6 --variants 4 >/dev/null 2>&1 || bad "demo-clicks"
head -1 demo/clicks.csv > demo/a.csv && cp demo/a.csv demo/b.csv  # beside the images they name
tail -n +2 demo/clicks.csv | awk 'NR % 2 == 1' >> demo/a.csv
tail -n +2 demo/clicks.csv | awk 'NR % 2 == 0' >> demo/b.csv
"$CAIG" project init conc >/dev/null
"$CAIG" import-clicks --project conc demo/a.csv > imp-a.log 2>&1 & pa=$!
"$CAIG" import-clicks --project conc demo/b.csv > imp-b.log 2>&1 & pb=$!
"$CAIG" generate --project conc --preset 1:1-512 -n 3 "$DEMO/jar.png" > gen.log 2>&1 & pg=$!
wait $pa; ra=$?; wait $pb; rb=$?; wait $pg; rg=$?
if [ $ra -eq 0 ] && [ $rb -eq 0 ] && [ $rg -eq 0 ]; then ok "concurrent writers all succeeded"
else bad "concurrent writers: exit $ra $rb $rg"; cat imp-a.log imp-b.log gen.log | grep -v '%' | tail -5; fi
[ "$(rows conc 'SELECT count(*) FROM click_records')" = 24 ] && ok "24 click rows kept" || bad "click rows: $(rows conc 'SELECT count(*) FROM click_records')"
[ "$(rows conc 'SELECT count(*) FROM variants')" = 3 ] && ok "3 variants kept" || bad "variants: $(rows conc 'SELECT count(*) FROM variants')"
consistent conc "concurrent writers"

# ---- kill -9 at random moments during generation ---------------------------------------------
"$CAIG" project init killed >/dev/null
for i in 1 2 3 4 5 6; do
  "$CAIG" generate --project killed --preset 1:1-512 -n 4 --seed $i "$DEMO/mug.png" >/dev/null 2>&1 & pid=$!
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
done
consistent killed "after 6 kills"
"$CAIG" generate --project killed --preset 1:1-512 -n 1 --seed 99 "$DEMO/mug.png" >/dev/null 2>&1 \
  && ok "generate works after the kills" || bad "generate after the kills"

# ---- refused files stay byte-identical -------------------------------------------------------
"$CAIG" project init newer >/dev/null
sqlite3 newer/project.caig "PRAGMA journal_mode = DELETE; PRAGMA user_version = 99" >/dev/null
before=$(sha256sum < newer/project.caig)
out=$("$CAIG" project info newer 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "schema version 99" <<<"$out" && ok "newer schema refused: $out" || bad "newer schema: rc $rc: $out"
"$CAIG" generate --project newer --preset 1:1-512 -n 1 "$DEMO/jar.png" >/dev/null 2>&1
[ "$(sha256sum < newer/project.caig)" = "$before" ] && ok "refused project unchanged" || bad "refused project was modified"
mkdir -p empty && : > empty/project.caig
out=$("$CAIG" generate --project empty --preset 1:1-512 -n 1 "$DEMO/jar.png" 2>&1); rc=$?
[ $rc -ne 0 ] && [ ! -s empty/project.caig ] && grep -q "0 bytes" <<<"$out" && ok "0-byte project refused: $(tail -1 <<<"$out")" \
  || bad "0-byte project: rc $rc, $(stat -c %s empty/project.caig) bytes: $out"

# ---- pipes and folders where files belong (must not block) -----------------------------------
mkfifo pipe.csv
out=$(timeout 20 "$CAIG" import-clicks --project conc pipe.csv 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "not a regular file" <<<"$out" && ok "FIFO click file refused" || bad "FIFO click file: rc $rc: $out"
out=$(timeout 20 "$CAIG" generate --project conc --preset 1:1-512 -n 1 "$W" 2>&1); rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "is a folder" <<<"$out" && ok "folder as shot refused" || bad "folder as shot: rc $rc: $out"

# ---- a dry run leaves nothing behind, also when it fails -------------------------------------
printf 'creative_id,image,product,impressions,clicks\na,x.png,p,0x10,1\n' > hex.csv
out=$("$CAIG" import-clicks --project nothing-here --dry-run hex.csv 2>&1)
grep -q "not a whole number" <<<"$out" && ok "0x10 impressions refused" || bad "0x10 impressions: $out"
"$CAIG" import-clicks --project nothing-here --dry-run pipe.csv >/dev/null 2>&1
ls -d "${TMPDIR:-/tmp}"/caig-dry-run-* >/dev/null 2>&1 && bad "a dry run left a temporary project" || ok "dry runs leave no temporary project"
[ ! -e nothing-here ] && ok "dry run created no project" || bad "dry run created a project"

# ---- text that is not UTF-8 ------------------------------------------------------------------
out=$("$CAIG" generate --project conc --preset 1:1-512 -n 1 --title $'Caf\xe9' "$DEMO/jar.png" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "UTF-8" <<<"$out" && ok "Latin-1 title refused before any work" || bad "Latin-1 title: rc $rc"
[ "$(rows conc 'SELECT count(*) FROM variants')" = 3 ] && ok "nothing stored for it" || bad "a variant was stored"
cp "$DEMO/jar.png" $'jar-\xe9.png'
out=$("$CAIG" rank --json "$DEMO/jar.png" $'jar-\xe9.png' 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q '"creatives"' <<<"$out" && ok "rank --json with a Latin-1 file name" || bad "rank --json: rc $rc: $(tail -2 <<<"$out")"

# ---- full disk and read-only mount (root, tmpfs) ---------------------------------------------
mkdir -p small ro
if mount -t tmpfs -o size=1200k tmpfs small 2>/dev/null; then
  "$CAIG" project init small/p >/dev/null
  full=0
  for i in $(seq 1 30); do
    out=$("$CAIG" generate --project small/p --preset 1:1-512 -n 2 --seed $i "$DEMO/jar.png" 2>&1) || { full=1; break; }
  done
  if [ $full -eq 1 ] && grep -qi "disk is full\|no space left" <<<"$out"; then ok "full disk reported: $(grep -i 'full\|space' <<<"$out" | tail -1)"
  else bad "full disk: $(tail -2 <<<"$out")"; fi
  consistent small/p "on a full disk"
  no_orphans small/p "on a full disk"
  out=$("$CAIG" import-clicks --project small/p demo/clicks.csv 2>&1); rc=$?
  if [ $rc -ne 0 ] && ! grep -q "no such savepoint" <<<"$out"; then ok "import on a full disk: $(tail -1 <<<"$out")"
  elif [ $rc -eq 0 ]; then ok "import fitted on the full disk"
  else bad "import on a full disk: $out"; fi
  consistent small/p "after the import on a full disk"
  no_orphans small/p "after the import on a full disk"
  [ "$(rows small/p 'SELECT count(*) FROM click_records')" = 0 ] && ok "the failed import stored no rows" || bad "a failed import stored rows"
  # Nearly no space left at all: opening the project already fails, and says why.
  dd if=/dev/zero of=small/filler bs=4k 2>/dev/null
  out=$("$CAIG" import-clicks --project small/p demo/clicks.csv 2>&1); rc=$?
  [ $rc -ne 0 ] && grep -qi "disk is full\|no space left" <<<"$out" && ok "a full disk at open: $(tail -1 <<<"$out")" || bad "full disk at open: $out"
  rm -f small/filler  # the checker itself needs room for SQLite's WAL index
  consistent small/p "after the open on a full disk"
  umount small
else
  skip "full disk (needs root and tmpfs)"
fi
if mount --bind conc ro 2>/dev/null && mount -o remount,bind,ro ro 2>/dev/null; then
  before=$(sha256sum < conc/project.caig)
  out=$("$CAIG" project info ro 2>&1) && grep -q "jar" <<<"$out" && ok "project info on a read-only mount" || bad "project info read-only: $out"
  out=$("$CAIG" import-clicks --project ro demo/a.csv 2>&1); rc=$?
  [ $rc -ne 0 ] && grep -qi "read-only" <<<"$out" && ok "writing to a read-only mount refused: $(tail -1 <<<"$out")" || bad "read-only write: rc $rc: $out"
  [ "$(sha256sum < conc/project.caig)" = "$before" ] && ok "read-only project unchanged" || bad "read-only project changed"
  umount ro
else
  umount ro 2>/dev/null
  skip "read-only mount (needs root and bind mounts)"
fi

if [ $status -ne 0 ]; then echo "some fault cases FAILED"; exit 1; fi
[ $skipped -ne 0 ] && exit 77
echo "all fault cases passed"
