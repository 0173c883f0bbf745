"""The iamtrask tutorial "Anyone can learn to code an LSTM-RNN" (part 1, a plain RNN), transcribed.

The program teaches a sigmoid RNN (2 -> 16 -> 1, no biases) to add two 8-bit numbers bit by
bit, least significant bit first, with full backpropagation through the 8 steps and one
example per update. It is kept line for line: the names (synapse_0, synapse_1, synapse_h,
layer_1_values, layer_2_deltas, future_layer_1_delta), the order of the random draws and
the printed lines are the tutorial's.

Random draws, in order (NumPy's legacy global generator, `np.random.seed(seed)`):
  1. synapse_0 = 2*random((2, 16)) - 1     (input -> hidden)
  2. synapse_1 = 2*random((16, 1)) - 1     (hidden -> output)
  3. synapse_h = 2*random((16, 16)) - 1    (hidden -> hidden)
  4. then, per update j: a_int = randint(128), b_int = randint(128)

Deviations needed for current NumPy (none changes a number):
- The tutorial calls `np.random.randint(largest_number/2)`, i.e. `randint(128.0)` under
  Python 3. NumPy 2.4 still accepts the float and draws exactly what `randint(128)` draws
  (the legacy RandomState stream is frozen); we pass the integer `largest_number // 2` so the
  oracle keeps running should NumPy stop accepting floats there. Same draws either way.
- Printed arrays follow today's NumPy formatting: "Error:[3.45638663]" (NumPy before 1.14
  printed "[ 3.45638663]", with a space for the sign).
- `copy.deepcopy(layer_1)` is written `layer_1.copy()` (same thing for an array).

Types are the tutorial's: c and d are uint8 rows of the int2binary table, so "Pred:" and
"True:" print as "[0 0 0 0 0 0 0 1]"; overallError is a length-1 float64 array.
"""

# ruff: noqa: C408  (the tutorial's spelling, kept)
import numpy as np


def sigmoid(x):
    """Compute the sigmoid nonlinearity."""
    return 1 / (1 + np.exp(-x))


def sigmoid_output_to_derivative(output):
    """Convert the output of the sigmoid into its derivative."""
    return output * (1 - output)


binary_dim = 8
largest_number = pow(2, binary_dim)
# the training dataset: int -> its 8 bits, most significant first (uint8)
_binary = np.unpackbits(np.array([range(largest_number)], dtype=np.uint8).T, axis=1)
int2binary = {i: _binary[i] for i in range(largest_number)}

alpha = 0.1
input_dim = 2
hidden_dim = 16
output_dim = 1


def initial_synapses(seed=0):
    """Seed the global generator and draw the three weight matrices in the tutorial's order."""
    np.random.seed(seed)
    synapse_0 = 2 * np.random.random((input_dim, hidden_dim)) - 1
    synapse_1 = 2 * np.random.random((hidden_dim, output_dim)) - 1
    synapse_h = 2 * np.random.random((hidden_dim, hidden_dim)) - 1
    return synapse_0, synapse_1, synapse_h


def train(seed=0, iterations=10000):
    """Run the tutorial's training loop; return (printed lines, (synapse_0, synapse_1, synapse_h))."""
    lines = []
    synapse_0, synapse_1, synapse_h = initial_synapses(seed)

    synapse_0_update = np.zeros_like(synapse_0)
    synapse_1_update = np.zeros_like(synapse_1)
    synapse_h_update = np.zeros_like(synapse_h)

    for j in range(iterations):
        # generate a simple addition problem (a + b = c)
        a_int = np.random.randint(largest_number // 2)  # the tutorial's randint(largest_number/2)
        a = int2binary[a_int]
        b_int = np.random.randint(largest_number // 2)
        b = int2binary[b_int]

        # true answer
        c_int = a_int + b_int
        c = int2binary[c_int]

        # where we'll store our best guess (binary encoded, uint8 like c)
        d = np.zeros_like(c)

        overallError = 0

        layer_2_deltas = list()
        layer_1_values = list()
        layer_1_values.append(np.zeros(hidden_dim))

        # moving along the positions in the binary encoding, least significant bit first
        for position in range(binary_dim):
            X = np.array([[a[binary_dim - position - 1], b[binary_dim - position - 1]]])  # (1, 2)
            y = np.array([[c[binary_dim - position - 1]]]).T  # (1, 1)

            # hidden layer (input ~+ prev_hidden)
            layer_1 = sigmoid(np.dot(X, synapse_0) + np.dot(layer_1_values[-1], synapse_h))  # (1, 16)
            # output layer (new binary representation)
            layer_2 = sigmoid(np.dot(layer_1, synapse_1))  # (1, 1)

            # did we miss?... if so by how much?
            layer_2_error = y - layer_2
            layer_2_deltas.append((layer_2_error) * sigmoid_output_to_derivative(layer_2))
            overallError += np.abs(layer_2_error[0])

            # decode estimate so we can print it out
            d[binary_dim - position - 1] = np.round(layer_2[0][0])

            # store hidden layer so we can use it in the next timestep
            layer_1_values.append(layer_1.copy())

        future_layer_1_delta = np.zeros(hidden_dim)

        # backward: position 0 here is the last time step (the most significant bit)
        for position in range(binary_dim):
            X = np.array([[a[position], b[position]]])
            layer_1 = layer_1_values[-position - 1]
            prev_layer_1 = layer_1_values[-position - 2]

            # error at output layer
            layer_2_delta = layer_2_deltas[-position - 1]
            # error at hidden layer
            layer_1_delta = (future_layer_1_delta.dot(synapse_h.T)
                             + layer_2_delta.dot(synapse_1.T)) * sigmoid_output_to_derivative(layer_1)

            # let's update all our weights so we can try again
            synapse_1_update += np.atleast_2d(layer_1).T.dot(layer_2_delta)
            synapse_h_update += np.atleast_2d(prev_layer_1).T.dot(layer_1_delta)
            synapse_0_update += X.T.dot(layer_1_delta)

            future_layer_1_delta = layer_1_delta

        synapse_0 += synapse_0_update * alpha
        synapse_1 += synapse_1_update * alpha
        synapse_h += synapse_h_update * alpha

        synapse_0_update *= 0
        synapse_1_update *= 0
        synapse_h_update *= 0

        # print out progress
        if j % 1000 == 0:
            lines.append("Error:" + str(overallError))
            lines.append("Pred:" + str(d))
            lines.append("True:" + str(c))
            out = 0
            for index, x in enumerate(reversed(d)):
                out += x * pow(2, index)
            lines.append(str(a_int) + " + " + str(b_int) + " = " + str(out))
            lines.append("------------")

    return lines, (synapse_0, synapse_1, synapse_h)


def run(seed=0, iterations=10000):
    """Return the lines the tutorial prints (every 1000 updates: Error, Pred, True, sum, dashes)."""
    return train(seed, iterations)[0]


def add(synapses, a_int, b_int):
    """The net's forward pass on a + b (ints or 1-d int arrays of equal length, each < 128).

    Returns an (N,) int array: the rounded output bits read as a binary number. All pairs go
    through at once, one row of X per pair, the products the tutorial forms for one pair.
    Example: add(initial_synapses(0), 9, 60) -> array([1]), the tutorial's first report.
    """
    synapse_0, synapse_1, synapse_h = synapses
    a_int, b_int = np.atleast_1d(a_int), np.atleast_1d(b_int)
    layer_1 = np.zeros((a_int.size, hidden_dim))  # (N, 16)
    out = np.zeros(a_int.size, dtype=np.int64)
    for position in range(binary_dim):
        X = np.stack([(a_int >> position) & 1, (b_int >> position) & 1], axis=1)  # (N, 2)
        layer_1 = sigmoid(np.dot(X, synapse_0) + np.dot(layer_1, synapse_h))  # (N, 16)
        layer_2 = sigmoid(np.dot(layer_1, synapse_1))  # (N, 1)
        out += np.round(layer_2[:, 0]).astype(np.int64) << position
    return out


def fraction_added_right(synapses):
    """The fraction of all 128x128 pairs a + b that the net with these synapses adds right."""
    a_int, b_int = np.divmod(np.arange((largest_number // 2) ** 2), largest_number // 2)
    return float(np.mean(add(synapses, a_int, b_int) == a_int + b_int))


def accuracy(seed=0, iterations=10000):
    """Train as the tutorial does; return (fraction of all 128x128 pairs added right, synapses)."""
    _, synapses = train(seed, iterations)
    return fraction_added_right(synapses), synapses


if __name__ == "__main__":
    for line in run():
        print(line)
