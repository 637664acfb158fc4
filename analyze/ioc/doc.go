// Package ioc answers, for each indicator of compromise, who talked to it:
// the containers (and the traffic no container is named for) whose flows
// reached the indicator's address, prefix or domain (through DNS answers,
// TLS SNI and HTTP Host), when, how much, through which capture points,
// and by which path. It works on the attributed traffic of package
// traffic; indicators are parsed by internal/indicator.
package ioc
