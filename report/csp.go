package report

// contentSecurityPolicy is the policy of every HTML report: nothing may be
// loaded from anywhere (the report opens on an offline lab workstation and
// its content is attacker-controlled), no script runs, styles only inline.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
