"""The instructor side: nbgrader course directory, release, safe autograding."""
