#!/usr/bin/env bash
# Applies (or deletes) an overlay with two guards:
#  - a kube context whose name matches PROD_CONTEXT_PATTERN (an extended regular expression,
#    default `prod`) is refused unless CONFIRM_PROD=yes;
#  - nothing that would delete the store's PersistentVolumeClaim (deces-edge-redis-data):
#    `delete` of an overlay that holds it, or `apply --prune` of one that lacks it.
# Usage: deploy/guard.sh apply|diff|delete <overlay directory> [kubectl options...]
# KUBECTL names the kubectl to run (default: kubectl).
set -euo pipefail

KUBECTL=${KUBECTL:-kubectl}
PROD_CONTEXT_PATTERN=${PROD_CONTEXT_PATTERN:-prod}
STORE_PVC=deces-edge-redis-data

refuse() {
  echo "guard: refused: $*" >&2
  exit 3
}

[ $# -ge 2 ] || { echo "usage: $0 apply|diff|delete <overlay directory> [kubectl options...]" >&2; exit 2; }
action=$1
overlay=$2
shift 2
case "$action" in apply | diff | delete) ;; *) echo "guard: unknown action '$action'" >&2; exit 2 ;; esac
[ -f "$overlay/kustomization.yaml" ] || { echo "guard: $overlay has no kustomization.yaml" >&2; exit 2; }

context=""
for arg in "$@"; do
  case "$arg" in --context=*) context=${arg#--context=} ;; esac
done
[ -n "$context" ] || context=$("$KUBECTL" config current-context)
if [ "$action" != diff ] && echo "$context" | grep -Eq -- "$PROD_CONTEXT_PATTERN"; then
  [ "${CONFIRM_PROD:-}" = yes ] ||
    refuse "kube context '$context' matches PROD_CONTEXT_PATTERN='$PROD_CONTEXT_PATTERN'; set CONFIRM_PROD=yes to $action there"
fi

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
"$KUBECTL" kustomize "$overlay" >"$rendered"
# The store's claim, as rendered: a "kind: PersistentVolumeClaim" document named $STORE_PVC.
has_store=$(awk -v pvc="$STORE_PVC" '
  /^---/ { if (kind && name) found = 1; kind = 0; name = 0; next }
  /^kind: PersistentVolumeClaim$/ { kind = 1 }
  /^  name: / { if ($2 == pvc) name = 1 }
  END { if (kind && name) found = 1; print found ? "yes" : "no" }' "$rendered")

prune=no
for arg in "$@"; do
  case "$arg" in --prune | --prune=true) prune=yes ;; esac
done
if [ "$action" = delete ] && [ "$has_store" = yes ]; then
  refuse "deleting $overlay would delete the store's PersistentVolumeClaim $STORE_PVC (every code, counter and ban); delete the app alone with: $KUBECTL delete spinapp deces-edge"
fi
if [ "$action" = apply ] && [ "$prune" = yes ] && [ "$has_store" = no ]; then
  refuse "--prune with an overlay that does not hold $STORE_PVC would delete the store's volume"
fi

echo "guard: $action $overlay on context '$context'" >&2
"$KUBECTL" "$action" -f "$rendered" "$@"
