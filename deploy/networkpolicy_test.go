package deploy_test

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vidpipe/vidpipe/deploy/manifest"
)

// metadataAddr is the cloud instance metadata address (credentials of the node).
var metadataAddr = netip.MustParseAddr("169.254.169.254")

// svcNamespace returns the namespace and port of host:port when host is
// a cluster Service name (<svc>.<namespace>.svc[.cluster.local]).
func svcNamespace(tb testing.TB, hostport string) (string, string) {
	tb.Helper()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		tb.Fatalf("endpoint %q: %v", hostport, err)
	}
	parts := strings.Split(host, ".")
	if len(parts) < 3 || parts[2] != "svc" {
		tb.Fatalf("endpoint %q is not a cluster Service (<name>.<namespace>.svc): update the NetworkPolicy test with the overlay's ipBlock", hostport)
	}
	return parts[1], port
}

// wantEgress lists what a pod's configuration says it talks to, as
// "namespace/port" plus "dns".
func wantEgress(tb testing.TB, env map[string]string) []string {
	tb.Helper()
	want := []string{"dns"}
	add := func(hostport string) {
		ns, port := svcNamespace(tb, hostport)
		if s := ns + "/TCP/" + port; !slices.Contains(want, s) {
			want = append(want, s)
		}
	}
	for _, b := range strings.Split(env["VIDPIPE_KAFKA_BROKERS"], ",") {
		if b = strings.TrimSpace(b); b != "" {
			add(b)
		}
	}
	if ep := env["VIDPIPE_S3_ENDPOINT"]; ep != "" {
		add(ep)
	}
	if dsn := env["VIDPIPE_POSTGRES_URL"]; dsn != "" {
		u, err := url.Parse(dsn)
		if err != nil {
			tb.Fatalf("VIDPIPE_POSTGRES_URL: %v", err)
		}
		add(u.Host)
	}
	if env["VIDPIPE_WEBHOOKS_OPS_ADDR"] != "" {
		// The webhooks service POSTs to users' endpoints: HTTP(S) to the internet.
		want = append(want, "internet/TCP/443", "internet/TCP/80")
	}
	sort.Strings(want)
	return want
}

// internetBlock reports whether b is "the internet": every IPv4 (or
// IPv6) address except at least the loopback, private, CGNAT and
// link-local (cloud metadata) ranges. Only the webhooks service, which
// delivers to users' endpoints, has such a rule.
func internetBlock(b *networkingv1.IPBlock) bool {
	var need []string
	switch b.CIDR {
	case "0.0.0.0/0":
		need = []string{"10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"}
	case "::/0":
		need = []string{"fc00::/7", "fe80::/10", "::1/128"}
	default:
		return false
	}
	for _, n := range need {
		if !slices.Contains(b.Except, n) {
			return false
		}
	}
	return true
}

// gotEgress describes a policy's egress rules the same way; anything
// else (an ipBlock, a rule without peers or ports) is an error.
func gotEgress(pol *networkingv1.NetworkPolicy) ([]string, error) {
	var got []string
	for i, r := range pol.Spec.Egress {
		if len(r.To) != 1 || len(r.Ports) == 0 {
			return nil, fmt.Errorf("egress rule %d: want exactly one peer and explicit ports (no rule may allow everything)", i)
		}
		peer := r.To[0]
		if peer.IPBlock != nil && internetBlock(peer.IPBlock) {
			for _, p := range r.Ports {
				if p.Protocol == nil || p.Port == nil || p.EndPort != nil {
					return nil, fmt.Errorf("egress rule %d: ports must name a protocol and one port", i)
				}
				if s := "internet/" + string(*p.Protocol) + "/" + p.Port.String(); !slices.Contains(got, s) {
					got = append(got, s)
				}
			}
			continue
		}
		if peer.IPBlock != nil {
			if p, err := netip.ParsePrefix(peer.IPBlock.CIDR); err != nil || p.Contains(metadataAddr) && !slices.Contains(peer.IPBlock.Except, "169.254.169.254/32") {
				return nil, fmt.Errorf("egress rule %d: ipBlock %+v reaches the metadata address", i, peer.IPBlock)
			}
			return nil, fmt.Errorf("egress rule %d: ipBlock in the base (endpoints are cluster Services)", i)
		}
		if peer.NamespaceSelector == nil || len(peer.NamespaceSelector.MatchLabels) != 1 {
			return nil, fmt.Errorf("egress rule %d: want a namespaceSelector on kubernetes.io/metadata.name", i)
		}
		ns := peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]
		if ns == "kube-system" {
			if peer.PodSelector == nil || peer.PodSelector.MatchLabels["k8s-app"] != "kube-dns" {
				return nil, fmt.Errorf("egress rule %d: kube-system only for kube-dns pods", i)
			}
			var ports []string
			for _, p := range r.Ports {
				ports = append(ports, string(*p.Protocol)+"/"+p.Port.String())
			}
			sort.Strings(ports)
			if !slices.Equal(ports, []string{"TCP/53", "UDP/53"}) {
				return nil, fmt.Errorf("egress rule %d: DNS ports %v, want TCP/53 and UDP/53", i, ports)
			}
			got = append(got, "dns")
			continue
		}
		for _, p := range r.Ports {
			if p.Protocol == nil || p.Port == nil || p.EndPort != nil {
				return nil, fmt.Errorf("egress rule %d: ports must name a protocol and one port", i)
			}
			got = append(got, ns+"/"+string(*p.Protocol)+"/"+p.Port.String())
		}
	}
	sort.Strings(got)
	return got, nil
}

// Every pod is selected by exactly one NetworkPolicy, whose egress is
// exactly DNS plus the Kafka, S3 and PostgreSQL endpoints its own
// configuration names (so nothing else, e.g. the cloud metadata address),
// and whose ingress is only its own container ports.
func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	c := MustCluster(t)
	df := MustDockerfile(t)
	pols := manifest.As[*networkingv1.NetworkPolicy](MustKustomize(t))
	type pod struct {
		labels map[string]string
		spec   corev1.PodSpec
	}
	pods := map[string]pod{}
	for name, d := range c.deployments {
		pods["Deployment "+name] = pod{d.Spec.Template.Labels, d.Spec.Template.Spec}
	}
	for name, j := range c.jobs {
		pods["Job "+name] = pod{j.Spec.Template.Labels, j.Spec.Template.Spec}
	}
	selected := map[string]bool{}
	for what, p := range pods {
		t.Run(what, func(t *testing.T) {
			var mine []*networkingv1.NetworkPolicy
			for _, pol := range pols {
				sel, err := metav1.LabelSelectorAsSelector(&pol.Spec.PodSelector)
				if err != nil {
					t.Fatalf("NetworkPolicy %s: %v", pol.Name, err)
				}
				if !sel.Empty() && sel.Matches(labels.Set(p.labels)) {
					mine = append(mine, pol)
				}
			}
			if len(mine) != 1 {
				t.Fatalf("selected by %d NetworkPolicies, want 1", len(mine))
			}
			pol := mine[0]
			selected[pol.Name] = true
			if !slices.Equal(pol.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
				t.Errorf("NetworkPolicy %s: policyTypes %v, want Ingress and Egress", pol.Name, pol.Spec.PolicyTypes)
			}
			ctr, bin := MustContainer(t, what, p.spec)
			env := c.MustEnv(t, MustImageEnv(t, df, bin), ctr)
			got, err := gotEgress(pol)
			if err != nil {
				t.Fatalf("NetworkPolicy %s: %v", pol.Name, err)
			}
			if want := wantEgress(t, env); !slices.Equal(got, want) {
				t.Errorf("NetworkPolicy %s: egress %v, want %v (from the pod's configuration)", pol.Name, got, want)
			}
			var ports []string
			for _, cp := range ctr.Ports {
				ports = append(ports, fmt.Sprint(cp.ContainerPort))
			}
			var in []string
			for i, r := range pol.Spec.Ingress {
				if len(r.Ports) == 0 {
					t.Errorf("NetworkPolicy %s: ingress rule %d allows every port", pol.Name, i)
				}
				for _, pp := range r.Ports {
					in = append(in, pp.Port.String())
				}
			}
			sort.Strings(in)
			sort.Strings(ports)
			if !slices.Equal(in, ports) {
				t.Errorf("NetworkPolicy %s: ingress ports %v, want the container's ports %v", pol.Name, in, ports)
			}
		})
	}
	for _, pol := range pols {
		if !selected[pol.Name] {
			t.Errorf("NetworkPolicy %s selects no pod", pol.Name)
		}
	}
}

func TestGotEgressRejectsMetadataAndOpenRules(t *testing.T) {
	tcp := corev1.ProtocolTCP
	for name, rule := range map[string]networkingv1.NetworkPolicyEgressRule{
		"everything":    {},
		"ipBlock world": {To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}},
		"world but private": {To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}}}},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}},
		"any namespace": {To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{}}}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp}}},
	} {
		pol := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{rule}}}
		if _, err := gotEgress(pol); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
