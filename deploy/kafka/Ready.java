// Readiness check for deploy/kafka/kafka.sh: exit 0 once the broker answers the Admin API
// with itself in the cluster and a controller elected. Run as a single-file program:
//   java -cp 'libs/*' Ready.java 127.0.0.1:19092 [node-id]
import java.util.Collection;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.common.Node;

public class Ready {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "4000");
        int nodeId = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        try (Admin admin = Admin.create(props)) {
            DescribeClusterResult cluster = admin.describeCluster();
            Collection<Node> nodes = cluster.nodes().get(5, TimeUnit.SECONDS);
            Node controller = cluster.controller().get(5, TimeUnit.SECONDS);
            boolean listed = nodes.stream().anyMatch(n -> n.id() == nodeId);
            if (!listed || controller == null || controller.isEmpty()) {
                System.err.println("not ready: nodes=" + nodes + " controller=" + controller);
                System.exit(1);
            }
            System.out.println("ready: cluster " + cluster.clusterId().get(5, TimeUnit.SECONDS)
                + ", broker " + nodeId + " listed");
        } catch (Exception e) {
            System.err.println("not ready: " + e);
            System.exit(1);
        }
    }
}
