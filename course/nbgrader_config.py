# nbgrader configuration for this course directory. Stock nbgrader works here:
#   cd autograder && nbgrader generate_assignment 01_knn && nbgrader autograde 01_knn
c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "nn-first-principles"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Checks print one green line and may print warnings; they never need more than this.
c.Execute.timeout = 300
