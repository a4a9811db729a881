#!/usr/bin/env bash
# The restore half of the actions/cache stand-ins (action.yml, restore/action.yml).
found="" hit=false
if [ -n "${ACT_CACHE_DIR:-}" ] && [ -d "$ACT_CACHE_DIR/$KEY" ]; then
  found="$ACT_CACHE_DIR/$KEY" hit=true
elif [ -n "${ACT_CACHE_DIR:-}" ]; then
  while IFS= read -r prefix; do
    [ -z "$prefix" ] && continue
    found="$(find "$ACT_CACHE_DIR" -mindepth 1 -maxdepth 1 -type d -name "$prefix*" -printf '%T@ %p\n' | sort -rn | sed -n 's/^[^ ]* //;1p')"
    [ -n "$found" ] && break
  done <<< "$RESTORE_KEYS"
fi
if [ -n "$found" ]; then
  mkdir -p "$TARGET"
  # -p: with the files' times, as the real action's archive keeps them.
  cp -Rp "$found/." "$TARGET/"
  echo "cache restored from $found (exact key: $hit)"
else
  echo "cache miss for $KEY (no cache service locally)"
fi
echo "cache-hit=$hit" >> "$GITHUB_OUTPUT"
