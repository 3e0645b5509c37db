# benches/relay-port.sh: sourced by relay-compare.sh and relay-ab.sh. `relay_port OUT TRIES`
# prints the port `msrp-relay` announced on its standard output (the file OUT: "listening on
# ADDR:PORT"), looking every 0.2 s at most TRIES times; it prints nothing if none came.
relay_port() {
    local port= i
    for i in $(seq "$2"); do
        port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$1")
        [ -n "$port" ] && break
        sleep 0.2
    done
    echo "$port"
}
