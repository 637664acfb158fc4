package indicator_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/dockcase/dockcase/internal/indicator"
)

func ExampleParse() {
	for _, s := range []string{"::ffff:10.0.0.0/104", "hxxps://c2[.]Evil[.]example/beacon", "*.evil.example"} {
		i, err := indicator.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(i.Kind, i)
	}
	_, err := indicator.Parse("1.2.3.4.5")
	fmt.Println(err)
	// Output:
	// cidr 10.0.0.0/8
	// domain c2.evil.example
	// domain evil.example
	// indicator "1.2.3.4.5": not a valid IP address, nor a domain (its last label has no letter)
}

func ExampleSet() {
	list, err := indicator.ParseList(strings.NewReader("# feed\n203.0.113.0/24\nevil[.]example\n"), "iocs.txt")
	if err != nil {
		fmt.Println(err)
		return
	}
	set := indicator.NewSet(list)
	if i, ok := set.Addr(netip.MustParseAddr("203.0.113.9")); ok {
		fmt.Println("address matches", i.Text)
	}
	if i, ok := set.Name("CDN.Evil.Example."); ok {
		fmt.Println("name matches", i.Text)
	}
	// Output:
	// address matches 203.0.113.0/24
	// name matches evil[.]example
}
