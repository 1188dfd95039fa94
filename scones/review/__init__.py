"""`scones review`: the photos the classifier was not sure of, shown to a person, and their
labels sent back to the waiting review workflow (docs/operations.md, "Reviewing photos").

- ``queue``: the pending reviews of a stack (local or on AWS), their images, the answer
- ``show``: a review's photo inline in a terminal that draws images, else an HTML page
- ``cli``: the ``scones review`` command (list, label, --interactive)
"""
