#!/usr/bin/env bash
# Regenerates the README's dashboard screenshots (docs/dashboard.png at desktop
# width, docs/dashboard-phone.png at 400 px) from the real server: a release
# build on a throw-away database, the everyday requests a webhook receives, and
# Debian's headless Chromium. Run it after changing the dashboard:
#     docs/screenshot.sh
# Needs chromium (apt-get install chromium) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v chromium >/dev/null || { echo "needs chromium (apt-get install chromium)" >&2; exit 1; }
cargo build --release --quiet

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
target/release/hookscope --listen "127.0.0.1:$port" --db "$work/hookscope.db" 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

bin=$(curl -sf -o /dev/null -w '%{redirect_url}' "$base/" | sed 's#.*/view/##')
send() { curl -sf -o /dev/null "$@"; }
send "$base/$bin/health"
send -X POST "$base/$bin/forms/contact" -d 'name=Ada+Lovelace&topic=engines&topic=notes'
send -X POST "$base/$bin/uploads" -F 'note=invoice attached' -F "file=@docs/screenshot.sh;type=text/x-shellscript"
send -X PUT "$base/$bin/orders/42?notify=true" -H 'Content-Type: application/xml' \
    --data-binary '<order id="42"><status>shipped</status></order>'
send -X DELETE "$base/$bin/sessions/7"
send -X POST "$base/$bin/stripe/webhook" -H 'Content-Type: application/json' \
    -H 'Stripe-Signature: t=1733090000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd' \
    -H 'User-Agent: Stripe/1.0 (+https://stripe.com/docs/webhooks)' \
    --data-binary '{"id":"evt_1Q","type":"invoice.paid","livemode":false,"data":{"object":{"id":"in_1Q","amount_paid":4200,"currency":"eur","customer":"cus_ada","lines":{"data":[{"description":"Analytical Engine, 1 ×","amount":4200}]}}}}'

shoot() { # file width height
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$work/profile" --virtual-time-budget=3000 \
        --screenshot="$1" --window-size="$2,$3" "$base/view/$bin" 2>/dev/null
}
shoot docs/dashboard.png 1280 860
shoot docs/dashboard-phone.png 400 860
echo "wrote docs/dashboard.png and docs/dashboard-phone.png"
